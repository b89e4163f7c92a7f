// Command notls is a Go program that never uses TLS (it links no crypto/tls):
// -g goroutines (at most -p at a time), each recursing 1..80 frames deep with
// 256 bytes of locals per frame (so its stack grows and is copied), passing
// values through channels. Prints one deterministic line and exits 0.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

func fill(pad *[256]byte, seed uint64) {
	for k := range pad {
		pad[k] = byte(seed>>(k%8*8)) ^ byte(k)
	}
}

// rec mixes seed through depth frames; every frame checks its locals after
// the deeper call returned (the stack may have moved meanwhile).
//
//go:noinline
func rec(depth int, seed uint64) uint64 {
	var pad [256]byte
	fill(&pad, seed)
	v := seed
	if depth > 0 {
		v = rec(depth-1, seed*6364136223846793005+1442695040888963407)
	}
	var want [256]byte
	fill(&want, seed)
	if pad != want {
		panic(fmt.Sprintf("frame at depth %d corrupted", depth))
	}
	return v ^ uint64(pad[depth%256])<<(depth%56)
}

func main() {
	g := flag.Int("g", 8000, "goroutines")
	p := flag.Int("p", 200, "at most this many at a time")
	rounds := flag.Int("rounds", 4, "recursions per goroutine")
	flag.Parse()
	t0 := time.Now()
	results := make(chan uint64, 64)
	sem := make(chan struct{}, *p)
	var wg sync.WaitGroup
	for i := 0; i < *g; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			v := uint64(i)
			for r := 0; r < *rounds; r++ {
				v = rec(1+(i*7+r*13)%80, v+uint64(r))
				runtime.Gosched()
			}
			results <- v
		}(i)
	}
	go func() {
		wg.Wait()
		close(results)
	}()
	var sum, xor uint64
	n := 0
	for v := range results {
		sum += v
		xor ^= v
		n++
	}
	fmt.Fprintf(os.Stderr, "notls: %s, %d goroutines in %v\n", runtime.Version(), n, time.Since(t0))
	fmt.Printf("notls ok goroutines=%d sum=%016x xor=%016x\n", n, sum, xor)
}
