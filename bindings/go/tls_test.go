package sutracache

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// testCertificate makes a self-signed certificate for 127.0.0.1 and a client configuration
// trusting it.
func testCertificate(t *testing.T) (tls.Certificate, *x509.Certificate, *ecdsa.PrivateKey, *tls.Config) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sutra-cache test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, cert, key, &tls.Config{RootCAs: pool}
}

// sutraTLSServer starts the server with its own TLS port (--tls-port, a fresh self-signed
// certificate, no client certificates); it returns the TLS port and a client configuration
// trusting the certificate.
func sutraTLSServer(t *testing.T, env ...string) (int, *tls.Config) {
	_, cert, key, cfg := testCertificate(t)
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	tp := freePort(t)
	env = append(env, "SUTRA_TLS_PORT="+strconv.Itoa(tp), "SUTRA_TLS_CERT_FILE="+certFile,
		"SUTRA_TLS_KEY_FILE="+keyFile, "SUTRA_TLS_AUTH_CLIENTS=no")
	sutraServer(t, env...)
	return tp, cfg
}

// tlsProxy terminates TLS (a fresh self-signed certificate for 127.0.0.1) in front of a
// plain server on targetPort (here: Redis, for the tracking connection); it returns its port
// and a client configuration trusting it.
func tlsProxy(t *testing.T, targetPort int) (int, *tls.Config) {
	certificate, _, _, cfg := testCertificate(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{certificate}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				up, err := net.Dial("tcp", addr(targetPort))
				if err != nil {
					return
				}
				defer up.Close()
				go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
				_, _ = io.Copy(c, up)
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, cfg
}

func TestTheClientAndTheInvalidationConnectionSpeakTLS(t *testing.T) {
	ctx := testCtx(t)
	// The server's own TLS port (--tls-port).
	port, cfg := sutraTLSServer(t)
	c := newTestClient(t, ClientOptions{Addr: addr(port), TLS: cfg, Strict: true})
	if err := c.Set(ctx, "over tls", []float32{1, 2}, "m", 0); err != nil {
		t.Fatal(err)
	}
	if v, found, err := c.Get(ctx, "over tls", "m"); err != nil || !found || v[1] != 2 {
		t.Fatalf("%v %v %v", v, found, err)
	}
	plain := newTestClient(t, ClientOptions{Addr: addr(port), Strict: true, Timeout: 500 * time.Millisecond})
	if _, _, err := plain.Get(ctx, "over tls", "m"); err == nil {
		t.Fatal("a client without TLS talked to the TLS port")
	}
	untrusting := newTestClient(t, ClientOptions{Addr: addr(port), TLS: &tls.Config{}, Strict: true})
	if _, _, err := untrusting.Get(ctx, "over tls", "m"); err == nil {
		t.Fatal("a client that does not trust the certificate connected")
	}

	// The MultiTier's invalidation connection dials with the same TLS configuration (against
	// Redis, which has CLIENT TRACKING for blob keys).
	rport, rcfg := tlsProxy(t, redisServer(t))
	_, ch := startTestTracker(t, ClientOptions{Addr: addr(rport), TLS: rcfg})
	raw := redis.NewClient(&redis.Options{Addr: addr(rport), TLSConfig: rcfg, DisableIdentity: true, Protocol: 2})
	defer raw.Close()
	raw.Set(ctx, "emb:m\x00over tls", "1", 0)
	if inv := next(t, ch); len(inv.names) != 1 || inv.names[0] != "emb:m\x00over tls" {
		t.Fatalf("invalidation over TLS: %+v", inv)
	}
}

func TestAURLNamesTheShardItsPasswordAndTLSAsRedisClientsDo(t *testing.T) {
	ctx := testCtx(t)
	port := sutraServer(t, "SUTRA_PASSWORD=pw")
	c := newTestClient(t, ClientOptions{URL: "redis://:pw@" + addr(port) + "/0", Strict: true})
	if c.Shard() != addr(port) {
		t.Fatalf("Shard() = %q, want %q", c.Shard(), addr(port))
	}
	if err := c.Set(ctx, "by url", []float32{3, 4}, "m", 0); err != nil {
		t.Fatal(err)
	}
	if v, found, err := c.Get(ctx, "by url", "m"); err != nil || !found || v[1] != 4 {
		t.Fatalf("%v %v %v", v, found, err)
	}
	wrong := newTestClient(t, ClientOptions{URL: "redis://:nope@" + addr(port), Strict: true})
	if _, _, err := wrong.Get(ctx, "by url", "m"); err == nil {
		t.Fatal("a URL with the wrong password was let in")
	}
	// rediss:// turns TLS on; ClientOptions.TLS (here: trust the test certificate) wins
	// over the URL's default configuration.
	tport, cfg := sutraTLSServer(t, "SUTRA_PASSWORD=pw")
	if err := newTestClient(t, ClientOptions{URL: "rediss://:pw@" + addr(tport), TLS: cfg, Strict: true}).Set(ctx, "by url", []float32{3, 4}, "m", 0); err != nil {
		t.Fatal(err)
	}
	secure := newTestClient(t, ClientOptions{URL: "rediss://:pw@" + addr(tport), TLS: cfg, Strict: true})
	if v, found, err := secure.Get(ctx, "by url", "m"); err != nil || !found || v[0] != 3 {
		t.Fatalf("over rediss://: %v %v %v", v, found, err)
	}
	for _, bad := range []ClientOptions{
		{URL: "http://" + addr(port)},
		{URL: "redis://" + addr(port) + "/notadb"},
		{URL: "redis://" + addr(port), Addr: addr(port)},
	} {
		if _, err := NewClient(bad); err == nil || !strings.Contains(err.Error(), "ClientOptions") {
			t.Fatalf("%+v: want an error naming the option, got %v", bad, err)
		}
	}
}
