// Command chat is an OpenAI chat-completions client written with Go's
// standard library only (net/http over crypto/tls), for llm-observer's
// end-to-end tests of Go programs.
//
// Base URL from OPENAI_BASE_URL (e.g. https://api.openai.com/v1), key from
// OPENAI_API_KEY, extra CA from SSL_CERT_FILE (Go honours it on Linux). One
// shared http.Client (keep-alive; HTTP/2 through ALPN unless -http1) serves
// -n calls spread over -c goroutines: goroutine g makes calls g, g+c, g+2c, ….
// The request body is the one the Rust harness's `chat_body` builds
// (tests/src/clients.rs): same keys, same order (sorted, as serde_json
// writes them), same bytes.
//
// With -grow (HTTP/1.1, one connection, calls one after another), call i
// writes its request with one tls.Conn.Write from a fresh goroutine i
// frames deep: as i grows, one of the depths puts Write's own stack check
// at the end of the goroutine's first stack, so that Write grows the stack
// and restarts from its entry (what made the agent record a request twice
// when its probe sat on the entry). Run with GODEBUG=adaptivestackstart=0
// so every goroutine starts with the same stack.
//
// Prints one JSON line per call to stdout (the fields of the Python SDK
// client, tests/clients/python/openai_client.py, plus "proto", "index",
// "goroutine", "local_port", "reused"). Exits 1 if any call failed at the
// transport level (status 0 lines are printed for them).
package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"time"
)

type result struct {
	Client           string  `json:"client"`
	Pid              int     `json:"pid"`
	Comm             string  `json:"comm"`
	Model            string  `json:"model"`
	Mode             string  `json:"mode"`
	Index            int     `json:"index"`
	Goroutine        int     `json:"goroutine"`
	Status           int     `json:"status"`
	Proto            string  `json:"proto"`
	RequestID        string  `json:"request_id"`
	ResponseID       string  `json:"response_id"`
	ResponseModel    string  `json:"response_model"`
	PromptTokens     *uint64 `json:"prompt_tokens"`
	CompletionTokens *uint64 `json:"completion_tokens"`
	FinishReason     string  `json:"finish_reason"`
	LocalPort        int     `json:"local_port"`
	Reused           bool    `json:"reused"`
	ElapsedMs        float64 `json:"elapsed_ms"`
	StartUnixUs      int64   `json:"start_unix_us"`
	Error            string  `json:"error,omitempty"`
}

type options struct {
	n, c, words, maxTokens, delayMs int
	mode, model                     string
	http1, vary, grow               bool
}

// body is the request body of call i (call i has words+i words with -vary).
func body(o *options, i int) []byte {
	words := o.words
	if o.vary {
		words += i
	}
	user := make([]string, words)
	for j := range user {
		user[j] = fmt.Sprintf("word%d", j)
	}
	b := map[string]interface{}{
		"model": o.model,
		"messages": []interface{}{
			map[string]interface{}{"role": "system", "content": "You are a test."},
			map[string]interface{}{"role": "user", "content": strings.Join(user, " ")},
		},
	}
	if o.maxTokens > 0 {
		b["max_tokens"] = o.maxTokens
	}
	if o.mode == "stream" {
		b["stream"] = true
		b["stream_options"] = map[string]interface{}{"include_usage": true}
	}
	// encoding/json writes map keys sorted, as serde_json does by default.
	out, err := json.Marshal(b)
	if err != nil {
		panic(err)
	}
	return out
}

// absorb takes the fields a client reads from one response object (a chat
// completion, a chunk, or an error object), like the harness's `curl_seen`.
func absorb(r *result, obj map[string]interface{}) {
	if id, ok := obj["id"].(string); ok {
		r.ResponseID = id
	}
	if m, ok := obj["model"].(string); ok {
		r.ResponseModel = m
	}
	if ch, ok := obj["choices"].([]interface{}); ok && len(ch) > 0 {
		if c0, ok := ch[0].(map[string]interface{}); ok {
			if f, ok := c0["finish_reason"].(string); ok {
				r.FinishReason = f
			}
		}
	}
	if u, ok := obj["usage"].(map[string]interface{}); ok {
		r.PromptTokens = num(u["prompt_tokens"])
		r.CompletionTokens = num(u["completion_tokens"])
	}
}

func num(v interface{}) *uint64 {
	f, ok := v.(float64)
	if !ok || f < 0 {
		return nil
	}
	n := uint64(f)
	return &n
}

func readComm() string {
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func call(client *http.Client, o *options, url, key string, i int, r *result) error {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body(o, i)))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	trace := &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if a, ok := info.Conn.LocalAddr().(*net.TCPAddr); ok {
				r.LocalPort = a.Port
			}
			r.Reused = info.Reused
		},
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	r.Status = resp.StatusCode
	r.Proto = resp.Proto
	r.RequestID = resp.Header.Get("x-request-id")
	if o.mode == "stream" && resp.StatusCode == 200 {
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64*1024), 16<<20)
		for sc.Scan() {
			d := strings.TrimPrefix(sc.Text(), "data: ")
			if d == sc.Text() || d == "[DONE]" {
				continue
			}
			var obj map[string]interface{}
			if err := json.Unmarshal([]byte(d), &obj); err != nil {
				return fmt.Errorf("SSE data %q: %v", d, err)
			}
			absorb(r, obj)
		}
		return sc.Err()
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var obj map[string]interface{}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return fmt.Errorf("response body %q: %v", raw, err)
	}
	absorb(r, obj)
	return nil
}

func main() {
	var o options
	flag.IntVar(&o.n, "n", 1, "total calls")
	flag.IntVar(&o.c, "c", 1, "concurrent goroutines (calls spread over them)")
	flag.StringVar(&o.mode, "mode", "nonstream", "stream|nonstream")
	flag.StringVar(&o.model, "model", "gpt-4o-mini", "model")
	flag.IntVar(&o.words, "words", 5, "words in the user message")
	flag.BoolVar(&o.vary, "vary", false, "call i has words+i words")
	flag.IntVar(&o.maxTokens, "max-tokens", 0, "max_tokens (omitted when 0)")
	flag.IntVar(&o.delayMs, "delay-ms", 0, "sleep before the first call")
	flag.BoolVar(&o.http1, "http1", false, "force HTTP/1.1 (no h2 in ALPN)")
	flag.BoolVar(&o.grow, "grow", false, "HTTP/1.1 on one tls.Conn, call i's Write from a goroutine i frames deep")
	dump := flag.Bool("dump-body", false, "print the body of call 0 and exit")
	flag.Parse()
	if o.mode != "stream" && o.mode != "nonstream" {
		fmt.Fprintf(os.Stderr, "bad -mode %q\n", o.mode)
		os.Exit(2)
	}
	if *dump {
		os.Stdout.Write(body(&o, 0))
		return
	}
	if o.c < 1 {
		o.c = 1
	}
	base := strings.TrimRight(os.Getenv("OPENAI_BASE_URL"), "/")
	if base == "" {
		base = "https://api.openai.com/v1"
	}
	url := base + "/chat/completions"
	key := os.Getenv("OPENAI_API_KEY")

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = o.c
	if o.http1 {
		// A non-nil empty map: HTTP/1.1 only (net/http's documented way).
		// Clone() set up HTTP/2 on DefaultTransport first and copied its
		// TLS config, which offers "h2" in ALPN: offer nothing instead, as
		// an HTTP/1.1-only Transport (or GODEBUG=http2client=0) does.
		tr.ForceAttemptHTTP2 = false
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		if tr.TLSClientConfig != nil {
			tr.TLSClientConfig.NextProtos = nil
		}
	}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	pid := os.Getpid()
	comm := readComm()

	if o.delayMs > 0 {
		time.Sleep(time.Duration(o.delayMs) * time.Millisecond)
	}
	if o.grow {
		if err := grow(&o, url, key, pid, comm); err != nil {
			fmt.Fprintf(os.Stderr, "grow: %v\n", err)
			os.Exit(1)
		}
		return
	}
	var mu sync.Mutex
	failed := 0
	out := json.NewEncoder(os.Stdout)
	var wg sync.WaitGroup
	for g := 0; g < o.c; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < o.n; i += o.c {
				r := result{Client: "go", Pid: pid, Comm: comm, Model: o.model, Mode: o.mode,
					Index: i, Goroutine: g}
				t0 := time.Now()
				r.StartUnixUs = t0.UnixMicro()
				err := call(client, &o, url, key, i, &r)
				r.ElapsedMs = float64(time.Since(t0).Microseconds()) / 1000
				mu.Lock()
				if err != nil {
					failed++
					r.Error = err.Error()
					fmt.Fprintf(os.Stderr, "call %d: %v\n", i, err)
				}
				out.Encode(&r)
				mu.Unlock()
			}
		}(g)
	}
	wg.Wait()
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "%d of %d calls failed\n", failed, o.n)
		os.Exit(1)
	}
}

// deep calls f from n frames down this goroutine's stack.
//
//go:noinline
func deep(n int, f func() error) error {
	var pad [4]uint64
	pad[n&3] = uint64(n)
	if n == 0 {
		return f()
	}
	err := deep(n-1, f)
	if pad[0] == 1<<63 {
		return fmt.Errorf("unreachable")
	}
	return err
}

// grow makes the -grow calls (see the package comment).
func grow(o *options, url, key string, pid int, comm string) error {
	host := strings.TrimPrefix(url, "https://")
	host = host[:strings.Index(host, "/")]
	addr := host
	if !strings.Contains(addr, ":") {
		addr += ":443"
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: strings.Split(host, ":")[0]})
	if err != nil {
		return err
	}
	defer conn.Close()
	rd := bufio.NewReader(conn)
	out := json.NewEncoder(os.Stdout)
	for i := 0; i < o.n; i++ {
		r := result{Client: "go", Pid: pid, Comm: comm, Model: o.model, Mode: o.mode, Index: i,
			Reused: i > 0}
		if a, ok := conn.LocalAddr().(*net.TCPAddr); ok {
			r.LocalPort = a.Port
		}
		t0 := time.Now()
		r.StartUnixUs = t0.UnixMicro()
		req, err := http.NewRequest("POST", url, bytes.NewReader(body(o, i)))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		var wire bytes.Buffer
		if err := req.Write(&wire); err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() {
			done <- deep(i, func() error {
				_, err := conn.Write(wire.Bytes())
				return err
			})
		}()
		if err := <-done; err != nil {
			return err
		}
		resp, err := http.ReadResponse(rd, req)
		if err != nil {
			return err
		}
		r.Status = resp.StatusCode
		r.Proto = resp.Proto
		r.RequestID = resp.Header.Get("x-request-id")
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var obj map[string]interface{}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return fmt.Errorf("response body %q: %v", raw, err)
		}
		absorb(&r, obj)
		r.ElapsedMs = float64(time.Since(t0).Microseconds()) / 1000
		out.Encode(&r)
	}
	return nil
}
