package mediatest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// nginxRTMPModule is where Debian's libnginx-mod-rtmp puts the module
// (`make deps` installs it).
const nginxRTMPModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"

// Nginx is an nginx-rtmp server run for a test: a live application "live"
// on RTMP, and its statistics over HTTP.
type Nginx struct {
	RTMP string // host:port
	HTTP string // host:port of /stat
}

// RequireNginxRTMP skips the test when nginx or its RTMP module is missing.
func RequireNginxRTMP(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("nginx"); err != nil {
		t.Skip("nginx not installed (make deps installs nginx-light and libnginx-mod-rtmp)")
	}
	if _, err := os.Stat(nginxRTMPModule); err != nil {
		t.Skip("nginx RTMP module not installed (make deps installs libnginx-mod-rtmp)")
	}
}

// StartNginxRTMP runs nginx in the foreground (daemon off, one process)
// with a config and prefix of its own in a temp directory, on ports picked
// free just before; it is stopped at cleanup. nginx cannot listen on port
// 0, so another process may take a picked port first: then it starts again
// on new ones.
func StartNginxRTMP(t testing.TB) *Nginx {
	t.Helper()
	RequireNginxRTMP(t)
	var last error
	for range 3 {
		n, err := startNginx(t)
		if err == nil {
			return n
		}
		last = err
	}
	t.Fatalf("nginx-rtmp did not start: %v", last)
	return nil
}

const nginxConf = `load_module %s;
daemon off;
master_process off;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 4096; }
rtmp {
    server {
        listen 127.0.0.1:%[3]d;
        chunk_size 4096;
        application live { live on; }
    }
}
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    server {
        listen 127.0.0.1:%[4]d;
        location /stat { rtmp_stat all; }
    }
}
`

func startNginx(t testing.TB) (*Nginx, error) {
	dir := t.TempDir()
	rtmpPort, httpPort, err := freePort(), freePort(), error(nil)
	if rtmpPort == 0 || httpPort == 0 {
		return nil, fmt.Errorf("no free port")
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err = os.WriteFile(conf, fmt.Appendf(nil, nginxConf, nginxRTMPModule, dir, rtmpPort, httpPort), 0o644); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "nginx", "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	cmd.Stderr = io.Discard
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	n := &Nginx{RTMP: net.JoinHostPort("127.0.0.1", strconv.Itoa(rtmpPort)), HTTP: net.JoinHostPort("127.0.0.1", strconv.Itoa(httpPort))}
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			cancel()
			logText, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return nil, fmt.Errorf("nginx exited: %v: %s", err, tail(logText))
		default:
		}
		if dialable(n.RTMP) && dialable(n.HTTP) {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-exited
			return nil, fmt.Errorf("nginx not listening after 10 s")
		}
		time.Sleep(20 * time.Millisecond) // polling a port: nginx has no readiness signal
	}
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	return n, nil
}

func freePort() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

var nclientsRe = regexp.MustCompile(`(?s)<stream>\s*<name>([^<]*)</name>.*?<nclients>(\d+)</nclients>`)

// Clients returns, from nginx's rtmp_stat, how many clients (the publisher
// included) each live stream has.
func (n *Nginx) Clients(ctx context.Context) (map[string]int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+n.HTTP+"/stat", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, m := range nclientsRe.FindAllSubmatch(body, -1) {
		out[string(m[1])], _ = strconv.Atoi(string(m[2]))
	}
	return out, nil
}
