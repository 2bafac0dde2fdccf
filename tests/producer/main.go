// Command producer writes the producer conformance corpus of session-audit
// (tests/fixtures/producer_corpus.json) and publishes it the way the poller
// does. It is the poller's side, written in the poller's language: each case
// is a session end as the poller's SSH relay fills it in, marshalled with
// encoding/json from a struct laid out like the poller's event, and its
// expected row is worked out here with Go's own libraries (time, net/netip),
// not with the service's parsers.
//
//	go run tests/producer/main.go corpus > tests/fixtures/producer_corpus.json
//	go run tests/producer/main.go publish nats://127.0.0.1:4222
//
// It builds offline against Debian's packages (golang-go,
// golang-github-nats-io-go-nats-dev):
//
//	GOPATH=/usr/share/gocode GO111MODULE=off GOPROXY=off go run tests/producer/main.go corpus
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// sessionEnd has the fields, JSON names, types and order of the poller's
// SessionEndEvent (staack/the-other-dude, poller/internal/bus/publisher.go):
// every field a string, written by json.Marshal in this order, "" when
// unknown.
type sessionEnd struct {
	SessionID string `json:"session_id"`
	UserID    string `json:"user_id"`
	TenantID  string `json:"tenant_id"`
	DeviceID  string `json:"device_id"`
	StartTime string `json:"start_time"`
	EndTime   string `json:"end_time"`
	SourceIP  string `json:"source_ip"`
	Reason    string `json:"reason"`
}

// request is what the relay reads the client's address from
// (poller/internal/sshrelay/server.go, handleSSH).
type request struct {
	xRealIP       string
	xForwardedFor string
	// remoteAddr is net/http's RemoteAddr: host and port joined as Go joins them.
	remoteAddr string
}

// sourceIP is the relay's choice: X-Real-IP, else the last X-Forwarded-For
// entry, trimmed, else RemoteAddr.
func (r request) sourceIP() string {
	ip := r.xRealIP
	if ip == "" && r.xForwardedFor != "" {
		parts := strings.Split(r.xForwardedFor, ",")
		ip = strings.TrimSpace(parts[len(parts)-1])
	}
	if ip == "" {
		ip = r.remoteAddr
	}
	return ip
}

// anomaly is one unusable value the service must keep on the row.
type anomaly struct {
	Field   string `json:"field"`
	Value   string `json:"value"`
	Problem string `json:"problem"`
}

// row is what a case must become in session_ends.
type row struct {
	SessionID       string    `json:"session_id"`
	TenantID        string    `json:"tenant_id"`
	DeviceID        string    `json:"device_id"`
	UserID          *string   `json:"user_id"`
	StartTime       *int64    `json:"start_time"`
	EndTime         *int64    `json:"end_time"`
	DurationSeconds *int64    `json:"duration_seconds"`
	SourceIP        *string   `json:"source_ip"`
	SourcePort      *int      `json:"source_port"`
	Reason          *string   `json:"reason"`
	Anomalies       []anomaly `json:"anomalies"`
}

// fixture is one entry of the corpus.
type fixture struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	// Payload is the message body byte for byte (json.Marshal's output is valid UTF-8).
	Payload string `json:"payload"`
	// ReceivedAt is when the stream is taken to have received it, epoch ms.
	ReceivedAt int64 `json:"received_at"`
	// Row is the row it must become; Quarantine the reason it is refused instead.
	Row        *row   `json:"row,omitempty"`
	Quarantine string `json:"quarantine,omitempty"`
}

// aCase is a session end as the relay fills it, and what the service must make of it.
type aCase struct {
	name       string
	session    string
	user       string
	tenant     string
	device     string
	start, end time.Time
	req        request
	reason     string
	// unusable names the secondary fields the service must null, with the problem it names.
	unusable   map[string]string
	quarantine string
	receivedAt time.Time
	// zeroStart sends Go's zero time as the start (a relay that never set it).
	zeroStart bool
}

const (
	tenant = "7c0c5bd4-3f0a-4bb5-9a55-1b0e6b2d3e41"
	device = "0d3f2a61-8a55-4c8e-9f1b-2b6f4f7d9a10"
	user   = "5e1d2c3b-4a59-4687-8796-a5b4c3d2e1f0"
)

var (
	newYork = time.FixedZone("", -5*3600)
	kolkata = time.FixedZone("", 5*3600+30*60)
	base    = time.Date(2024, 3, 12, 10, 0, 0, 0, time.UTC)
)

func session(n int) string {
	return fmt.Sprintf("9b2e4f6a-1c3d-4e5f-8a7b-%012x", n)
}

func cases() []aCase {
	normal := func(n int, name string) aCase {
		return aCase{
			name: name, session: session(n), user: user, tenant: tenant, device: device,
			start: base.Add(time.Duration(n) * time.Minute), end: base.Add(time.Duration(n)*time.Minute + 15*time.Minute + 30*time.Second),
			req:    request{xRealIP: "203.0.113.7"},
			reason: "normal",
		}
	}
	with := func(c aCase, change func(*aCase)) aCase {
		change(&c)
		return c
	}
	return []aCase{
		normal(1, "behind the proxy: X-Real-IP, IPv4, times in UTC"),
		with(normal(2, "no proxy header: RemoteAddr host:port"), func(c *aCase) {
			c.req = request{remoteAddr: net.JoinHostPort("198.51.100.23", "53122")}
		}),
		with(normal(3, "no proxy header: RemoteAddr [v6]:port"), func(c *aCase) {
			c.req = request{remoteAddr: net.JoinHostPort("2001:db8::7", "443")}
		}),
		with(normal(4, "RemoteAddr of an IPv4 client on a dual-stack listener: IPv4-mapped IPv6"), func(c *aCase) {
			c.req = request{remoteAddr: net.JoinHostPort("::ffff:192.0.2.1", "22")}
		}),
		with(normal(5, "RemoteAddr with a zone: a link-local client"), func(c *aCase) {
			c.req = request{remoteAddr: net.JoinHostPort("fe80::1%eth0", "2222")}
		}),
		with(normal(6, "X-Forwarded-For: the last entry, a long-form IPv6"), func(c *aCase) {
			c.req = request{xForwardedFor: "10.0.0.1, 2001:0DB8:0000:0000:0000:0000:0000:0007"}
		}),
		with(normal(7, "X-Forwarded-For junk: unknown"), func(c *aCase) {
			c.req = request{xForwardedFor: "unknown"}
			c.unusable = map[string]string{"source_ip": "not an IP address"}
		}),
		with(normal(8, "X-Real-IP holding a list"), func(c *aCase) {
			c.req = request{xRealIP: "203.0.113.7, 198.51.100.1"}
			c.unusable = map[string]string{"source_ip": "a list of addresses, not one"}
		}),
		with(normal(9, "X-Forwarded-For: a host name with a port"), func(c *aCase) {
			c.req = request{xForwardedFor: "proxy.internal:8080"}
			c.unusable = map[string]string{"source_ip": "not an IP address"}
		}),
		with(normal(10, "no user in the token: user_id \"\""), func(c *aCase) { c.user = "" }),
		with(normal(11, "a user id that is not a UUID"), func(c *aCase) {
			c.user = "admin"
			c.unusable = map[string]string{"user_id": "not a UUID"}
		}),
		with(normal(12, "relays in other zones: -05:00 and +05:30"), func(c *aCase) {
			c.start = c.start.In(newYork)
			c.end = c.end.In(kolkata)
		}),
		with(normal(13, "idle_timeout"), func(c *aCase) { c.reason = "idle_timeout" }),
		with(normal(14, "shutdown, and an empty source_ip"), func(c *aCase) {
			c.reason = "shutdown"
			c.req = request{}
		}),
		with(normal(15, "a new reason, non-ASCII"), func(c *aCase) { c.reason = "déconnexion forcée" }),
		with(normal(16, "a reason json.Marshal escapes: <, >, & and U+2028"), func(c *aCase) {
			c.reason = "<kick> & ban\u2028"
		}),
		with(normal(17, "a reason holding invalid UTF-8: json.Marshal writes U+FFFD"), func(c *aCase) {
			c.reason = "normal\xff"
		}),
		with(normal(18, "a reason with a control character"), func(c *aCase) {
			c.reason = "idle\ttimeout"
			c.unusable = map[string]string{"reason": "contains a control character"}
		}),
		with(normal(19, "a reason of 65 characters"), func(c *aCase) {
			c.reason = strings.Repeat("r", 65)
			c.unusable = map[string]string{"reason": "longer than 64 characters"}
		}),
		with(normal(20, "a relay clock far ahead: end_time kept and flagged"), func(c *aCase) {
			c.end = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
			c.receivedAt = c.start.Add(time.Hour)
			c.unusable = map[string]string{
				"end_time": "in the future: more than 300 s after the stream received the event",
			}
		}),
		with(normal(21, "the clock stepped back: end before start"), func(c *aCase) {
			c.start, c.end = c.end, c.start
		}),
		with(normal(22, "a start never set: Go's zero time"), func(c *aCase) { c.zeroStart = true }),
		with(normal(23, "no tenant: quarantined"), func(c *aCase) {
			c.tenant = ""
			c.quarantine = "tenant_id: must be a UUID"
		}),
		with(normal(24, "a device id that is not a UUID: quarantined"), func(c *aCase) {
			c.device = "router-7"
			c.quarantine = "device_id: must be a UUID"
		}),
	}
}

func (c aCase) event() sessionEnd {
	start := c.start.Format(time.RFC3339)
	if c.zeroStart {
		start = time.Time{}.Format(time.RFC3339)
	}
	return sessionEnd{
		SessionID: c.session,
		UserID:    c.user,
		TenantID:  c.tenant,
		DeviceID:  c.device,
		StartTime: start,
		EndTime:   c.end.Format(time.RFC3339),
		SourceIP:  c.req.sourceIP(),
		Reason:    c.reason,
	}
}

// payload is the message body, as the poller's PublishSessionEnd marshals it.
func (c aCase) payload() []byte {
	data, err := json.Marshal(c.event())
	if err != nil {
		panic(err)
	}
	return data
}

func ptr[T any](v T) *T { return &v }

// address is the client address and port as Go reads source_ip: ok false when it is not one.
func address(sourceIP string) (ip string, port *int, ok bool) {
	host, portText, err := net.SplitHostPort(sourceIP)
	if err != nil {
		host, portText = sourceIP, ""
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return "", nil, false
	}
	if portText != "" {
		p, err := net.LookupPort("tcp", portText)
		if err != nil {
			return "", nil, false
		}
		port = &p
	}
	return addr.Unmap().WithZone("").String(), port, true
}

// expected works out the row of a case from what the service receives: the payload, decoded.
func (c aCase) expected() *row {
	var sent sessionEnd
	if err := json.Unmarshal(c.payload(), &sent); err != nil {
		panic(err)
	}
	r := &row{SessionID: sent.SessionID, TenantID: sent.TenantID, DeviceID: sent.DeviceID, Anomalies: []anomaly{}}
	flagged := func(field, value string) bool {
		problem, bad := c.unusable[field]
		if bad {
			r.Anomalies = append(r.Anomalies, anomaly{field, value, problem})
		}
		return bad
	}
	if sent.UserID != "" && !flagged("user_id", sent.UserID) {
		r.UserID = ptr(sent.UserID)
	}
	at := func(text string) *int64 {
		t, err := time.Parse(time.RFC3339, text)
		if err != nil || t.IsZero() {
			return nil
		}
		return ptr(t.UnixMilli())
	}
	r.StartTime = at(sent.StartTime)
	if end := at(sent.EndTime); end != nil {
		r.EndTime = end
		flagged("end_time", sent.EndTime) // kept, flagged
	}
	if r.StartTime != nil && r.EndTime != nil && *r.EndTime >= *r.StartTime {
		r.DurationSeconds = ptr((*r.EndTime - *r.StartTime) / 1000)
	}
	if sent.SourceIP != "" && !flagged("source_ip", sent.SourceIP) {
		ip, port, ok := address(sent.SourceIP)
		if !ok {
			panic(fmt.Sprintf("%s: Go reads no address in %q; the case must name the problem", c.name, sent.SourceIP))
		}
		r.SourceIP, r.SourcePort = ptr(ip), port
	}
	if sent.Reason != "" && !flagged("reason", sent.Reason) {
		r.Reason = ptr(sent.Reason)
	}
	return r
}

func corpus() []fixture {
	var out []fixture
	for _, c := range cases() {
		f := fixture{
			Name:    c.name,
			Subject: "audit.session.end." + c.session,
			Payload: string(c.payload()),
		}
		received := c.receivedAt
		if received.IsZero() {
			received = c.end.Add(time.Second)
		}
		f.ReceivedAt = received.UnixMilli()
		if c.quarantine != "" {
			f.Quarantine = c.quarantine
		} else {
			f.Row = c.expected()
		}
		out = append(out, f)
	}
	return out
}

func writeCorpus() error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(corpus()); err != nil {
		return err
	}
	_, err := os.Stdout.Write(buf.Bytes())
	return err
}

// publish sends every case as the poller does: JetStream publish, no message id.
func publish(url string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return err
	}
	for _, c := range cases() {
		if _, err := js.Publish("audit.session.end."+c.session, c.payload()); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	return nil
}

func main() {
	var err error
	switch {
	case len(os.Args) == 2 && os.Args[1] == "corpus":
		err = writeCorpus()
	case len(os.Args) == 3 && os.Args[1] == "publish":
		err = publish(os.Args[2])
	default:
		err = fmt.Errorf("usage: producer corpus | producer publish NATS_URL")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		os.Exit(1)
	}
}
