// Command churn is a safety check for tools that probe Go's crypto/tls: an
// in-process TLS echo server on 127.0.0.1 (a self-signed ECDSA certificate
// made at start) and -g client goroutines (at most -p at a time), each
// dialing it with crypto/tls and calling tls.Conn.Read / Write from deep in a
// recursion (1..-depth frames of 256 bytes of locals, varied per goroutine),
// so that goroutine stacks have to grow (be copied) while a Read or a Write
// (and the TLS handshake, which runs inside the first of them) is in
// progress. A return probe (uretprobe) on such a function breaks that: the
// runtime finds a foreign return address while copying the stack and dies
// with "unexpected return pc" (or a corrupted local is caught here).
//
// Prints one deterministic line (byte count and an order-independent
// checksum of every echoed payload) and exits 0; exits 1 on any failure.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

const (
	greeting  = "churn-hello\n"
	pieceSize = 512 // the server echoes in records of this size
	ioTimeout = 30 * time.Second
)

var maxDepth = 50

func selfSigned() (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "churn.test"},
		DNSNames:              []string{"churn.test"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	check(err)
	leaf, err := x509.ParseCertificate(der)
	check(err)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "churn:", err)
		os.Exit(1)
	}
}

// fill writes a pattern of depth into a frame's locals; verify checks it
// after the call below returned (the stack may have moved meanwhile).
func fill(pad *[256]byte, depth int) {
	for k := range pad {
		pad[k] = byte(depth*7 + k)
	}
}

func verify(pad *[256]byte, depth int) {
	for k := range pad {
		if pad[k] != byte(depth*7+k) {
			panic(fmt.Sprintf("frame at depth %d corrupted at %d", depth, k))
		}
	}
}

// deepRead calls c.Read(buf) under depth frames of 256 bytes each.
//
//go:noinline
func deepRead(c *tls.Conn, buf []byte, depth int) (int, error) {
	var pad [256]byte
	fill(&pad, depth)
	var n int
	var err error
	if depth > 0 {
		n, err = deepRead(c, buf, depth-1)
	} else {
		n, err = c.Read(buf)
	}
	verify(&pad, depth)
	return n, err
}

// deepWrite calls c.Write(buf) under depth frames of 256 bytes each.
//
//go:noinline
func deepWrite(c *tls.Conn, buf []byte, depth int) (int, error) {
	var pad [256]byte
	fill(&pad, depth)
	var n int
	var err error
	if depth > 0 {
		n, err = deepWrite(c, buf, depth-1)
	} else {
		n, err = c.Write(buf)
	}
	verify(&pad, depth)
	return n, err
}

// readFull fills buf with Reads of at most 700 bytes, each from its own
// depth (varied with the progress).
func readFull(c *tls.Conn, buf []byte, depth int) error {
	got := 0
	for got < len(buf) {
		end := got + 700
		if end > len(buf) {
			end = len(buf)
		}
		d := (depth + got/64) % (maxDepth + 1)
		n, err := deepRead(c, buf[got:end], d)
		got += n
		if err != nil && got < len(buf) {
			return err
		}
	}
	return nil
}

func serve(raw net.Conn, cfg *tls.Config, id int) {
	c := tls.Server(raw, cfg)
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	depth := (id * 13) % (maxDepth + 1)
	// The server's handshake runs inside this Write.
	if _, err := deepWrite(c, []byte(greeting), depth); err != nil {
		fmt.Fprintln(os.Stderr, "server write:", err)
		return
	}
	var hdr [4]byte
	if err := readFull(c, hdr[:], depth); err != nil {
		fmt.Fprintln(os.Stderr, "server read:", err)
		return
	}
	msg := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if err := readFull(c, msg, depth+1); err != nil {
		fmt.Fprintln(os.Stderr, "server read:", err)
		return
	}
	for off := 0; off < len(msg); off += pieceSize {
		end := off + pieceSize
		if end > len(msg) {
			end = len(msg)
		}
		if _, err := deepWrite(c, msg[off:end], (depth+off/pieceSize)%(maxDepth+1)); err != nil {
			fmt.Fprintln(os.Stderr, "server write:", err)
			return
		}
	}
}

func message(i int) []byte {
	m := make([]byte, 64+(i*131)%4000)
	for j := range m {
		m[j] = byte((i*31 + j*7) % 251)
	}
	return m
}

func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, x := range b {
		h ^= uint64(x)
		h *= 1099511628211
	}
	return h
}

// client makes exchange i: handshake inside the first Read (even i) or the
// first Write (odd i), then the message out and its echo back.
func client(addr string, cfg *tls.Config, i int) (uint64, int, error) {
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	c := tls.Client(raw, cfg)
	defer c.Close()
	c.SetDeadline(time.Now().Add(ioTimeout))
	depth := 1 + (i*7)%maxDepth
	msg := message(i)
	out := make([]byte, 4+len(msg))
	binary.BigEndian.PutUint32(out, uint32(len(msg)))
	copy(out[4:], msg)
	hello := make([]byte, len(greeting))
	if i%2 == 0 {
		if err := readFull(c, hello, depth); err != nil {
			return 0, 0, fmt.Errorf("read greeting: %v", err)
		}
		if _, err := deepWrite(c, out, depth); err != nil {
			return 0, 0, fmt.Errorf("write: %v", err)
		}
	} else {
		if _, err := deepWrite(c, out, depth); err != nil {
			return 0, 0, fmt.Errorf("write: %v", err)
		}
		if err := readFull(c, hello, depth); err != nil {
			return 0, 0, fmt.Errorf("read greeting: %v", err)
		}
	}
	if string(hello) != greeting {
		return 0, 0, fmt.Errorf("greeting %q", hello)
	}
	echo := make([]byte, len(msg))
	if err := readFull(c, echo, depth); err != nil {
		return 0, 0, fmt.Errorf("read echo: %v", err)
	}
	if string(echo) != string(msg) {
		return 0, 0, fmt.Errorf("echo of %d differs", i)
	}
	return fnv64(echo), len(echo), nil
}

func main() {
	g := flag.Int("g", 2000, "client goroutines (one TLS connection each)")
	p := flag.Int("p", 200, "at most this many at a time")
	flag.IntVar(&maxDepth, "depth", 50, "deepest recursion (256-byte frames) around Read/Write")
	pp := flag.Int("pingpong", 0, "instead: this many sequential round trips per block on one connection (the overhead benchmark)")
	blocks := flag.Int("blocks", 3, "-pingpong: blocks (the median is printed)")
	size := flag.Int("size", 64, "-pingpong: bytes per message")
	flag.Parse()
	if *pp > 0 {
		pingpong(*pp, *blocks, *size)
		return
	}
	if maxDepth < 1 {
		maxDepth = 1
	}
	t0 := time.Now()
	cert, pool := selfSigned()
	scfg := &tls.Config{Certificates: []tls.Certificate{cert}}
	ccfg := &tls.Config{RootCAs: pool, ServerName: "churn.test"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go func() {
		for id := 0; ; id++ {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(raw, scfg, id)
		}
	}()

	var sum, total, failed uint64
	sem := make(chan struct{}, *p)
	var wg sync.WaitGroup
	for i := 0; i < *g; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			h, n, err := client(ln.Addr().String(), ccfg, i)
			if err != nil {
				atomic.AddUint64(&failed, 1)
				fmt.Fprintf(os.Stderr, "client %d: %v\n", i, err)
				return
			}
			atomic.AddUint64(&sum, h)
			atomic.AddUint64(&total, uint64(n))
		}(i)
	}
	wg.Wait()
	ln.Close()
	fmt.Fprintf(os.Stderr, "churn: %s, %d goroutines in %v\n", runtime.Version(), *g, time.Since(t0))
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "churn: %d of %d exchanges failed\n", failed, *g)
		os.Exit(1)
	}
	fmt.Printf("churn ok goroutines=%d bytes=%d checksum=%016x\n", *g, total, sum)
}

// pingpong measures the cost of TLS reads and writes: an in-process TLS echo
// server and one client connection make n sequential round trips of size
// bytes, per block; prints the median ns per round trip over the blocks
// (each round trip is two Writes and two Reads of crypto/tls).
func pingpong(n, blocks, size int) {
	cert, pool := selfSigned()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	check(err)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		buf := make([]byte, size)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "churn.test"})
	check(err)
	msg := make([]byte, size)
	back := make([]byte, size)
	var per []float64
	for b := 0; b < blocks; b++ {
		t0 := time.Now()
		for i := 0; i < n; i++ {
			_, err := c.Write(msg)
			check(err)
			_, err = io.ReadFull(c, back)
			check(err)
		}
		per = append(per, float64(time.Since(t0).Nanoseconds())/float64(n))
	}
	sort.Float64s(per)
	fmt.Printf("%.0f\n", per[len(per)/2])
}
