package eximlab

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// Client is a raw SMTP client: it sends exactly what it is told, so it can
// misbehave on purpose (pipelining before the greeting, bad syntax,
// silence, disconnects).
type Client struct {
	conn net.Conn
	r    *bufio.Reader
	// Timeout bounds every read and write. Default: 10s.
	Timeout time.Duration
}

// Reply is one SMTP reply.
type Reply struct {
	Code int
	Text string // lines joined by "\n", without codes
}

func (r Reply) String() string { return fmt.Sprintf("%d %s", r.Code, r.Text) }

// Dial connects from the source address src (a loopback address such as
// "127.0.0.42" or "::1") to the lab daemon. It does not read the greeting.
func (l *Lab) Dial(ctx context.Context, src string) (*Client, error) {
	ip := net.ParseIP(src)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("eximlab: source %q is not a loopback address", src)
	}
	dst := "127.0.0.1"
	if ip.To4() == nil {
		dst = "::1"
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 10 * time.Second}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(dst, strconv.Itoa(l.Port)))
	if err != nil {
		return nil, fmt.Errorf("eximlab: dial from %s: %w", src, err)
	}
	return &Client{conn: c, r: bufio.NewReader(c), Timeout: 10 * time.Second}, nil
}

// LocalPort is the client's TCP port: the port Exim logs after the
// client's address with log_selector +incoming_port.
func (c *Client) LocalPort() int {
	if a, ok := c.conn.LocalAddr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Close closes the connection without QUIT.
func (c *Client) Close() error { return c.conn.Close() }

// Send writes s as is (add "\r\n" yourself).
func (c *Client) Send(s string) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.Timeout))
	if _, err := io.WriteString(c.conn, s); err != nil {
		return fmt.Errorf("eximlab: send: %w", err)
	}
	return nil
}

// Read reads one (possibly multi-line) reply.
func (c *Client) Read() (Reply, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(c.Timeout))
	var rep Reply
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return rep, fmt.Errorf("eximlab: read reply: %w", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if len(line) < 3 {
			return rep, fmt.Errorf("eximlab: bad reply line %q", line)
		}
		code, err := strconv.Atoi(line[:3])
		if err != nil {
			return rep, fmt.Errorf("eximlab: bad reply line %q", line)
		}
		rep.Code = code
		if len(line) > 4 {
			lines = append(lines, line[4:])
		}
		if len(line) == 3 || line[3] != '-' {
			rep.Text = strings.Join(lines, "\n")
			return rep, nil
		}
	}
}

// Cmd sends line (without "\r\n") and reads the reply. When want is not
// zero, a reply with another code is an error.
func (c *Client) Cmd(want int, line string) (Reply, error) {
	if err := c.Send(line + "\r\n"); err != nil {
		return Reply{}, err
	}
	rep, err := c.Read()
	if err != nil {
		return rep, fmt.Errorf("%s: %w", line, err)
	}
	if want != 0 && rep.Code != want {
		return rep, fmt.Errorf("eximlab: %q: got %v, want %d", line, rep, want)
	}
	return rep, nil
}

// Expect reads a reply and checks its code.
func (c *Client) Expect(want int) (Reply, error) {
	rep, err := c.Read()
	if err != nil {
		return rep, err
	}
	if want != 0 && rep.Code != want {
		return rep, fmt.Errorf("eximlab: got %v, want %d", rep, want)
	}
	return rep, nil
}

// WaitClosed reads until the server closes the connection (or Timeout).
func (c *Client) WaitClosed() error {
	_ = c.conn.SetReadDeadline(time.Now().Add(c.Timeout))
	_, err := io.Copy(io.Discard, c.r)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("eximlab: server did not close the connection: %w", err)
		}
	}
	return nil
}

// Quit sends QUIT, expects 221 and waits for the server to close.
func (c *Client) Quit() error {
	if _, err := c.Cmd(221, "QUIT"); err != nil {
		return err
	}
	return c.WaitClosed()
}

// StartTLS sends STARTTLS and does the TLS handshake (certificate not
// verified: the lab's is self-signed).
func (c *Client) StartTLS() error {
	if _, err := c.Cmd(220, "STARTTLS"); err != nil {
		return err
	}
	tc := tls.Client(c.conn, &tls.Config{InsecureSkipVerify: true, ServerName: PrimaryHost}) //nolint:gosec // self-signed lab certificate on loopback
	_ = tc.SetDeadline(time.Now().Add(c.Timeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("eximlab: TLS handshake: %w", err)
	}
	c.conn = tc
	c.r = bufio.NewReader(tc)
	return nil
}

// AuthPlain authenticates with AUTH PLAIN and returns the reply code.
func (c *Client) AuthPlain(user, pass string) (Reply, error) {
	tok := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	return c.Cmd(0, "AUTH PLAIN "+tok)
}

// AuthLogin authenticates with AUTH LOGIN and returns the final reply.
func (c *Client) AuthLogin(user, pass string) (Reply, error) {
	if _, err := c.Cmd(334, "AUTH LOGIN"); err != nil {
		return Reply{}, err
	}
	if _, err := c.Cmd(334, base64.StdEncoding.EncodeToString([]byte(user))); err != nil {
		return Reply{}, err
	}
	return c.Cmd(0, base64.StdEncoding.EncodeToString([]byte(pass)))
}

// Data sends DATA, the message (dot-stuffed here) and the final dot, and
// returns the final reply. want applies to the final reply.
func (c *Client) Data(want int, msg string) (Reply, error) {
	if _, err := c.Cmd(354, "DATA"); err != nil {
		return Reply{}, err
	}
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(msg, "\n"), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.HasPrefix(line, ".") {
			b.WriteByte('.')
		}
		b.WriteString(line)
		b.WriteString("\r\n")
	}
	b.WriteString(".\r\n")
	if err := c.Send(b.String()); err != nil {
		return Reply{}, err
	}
	return c.Expect(want)
}
