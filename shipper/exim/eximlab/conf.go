package eximlab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// Test domains. Everything is routed to loopback: LocalDomain is delivered
// to files, a pipe and :blackhole: in the lab directory; PartnerDomain to
// the lab's SMTP sink; DeferDomain (sender verification) defers; any other
// domain to a closed loopback port, so it is deferred.
const (
	LocalDomain   = "example.org"
	PartnerDomain = "partner.test"
	DeferDomain   = "defer.test"
	PrimaryHost   = "mx.example.org"
)

// Source addresses with a special meaning in the configuration. Clients may
// bind any 127.0.0.0/8 address as their source on Linux.
const (
	IPConnectDrop  = "127.0.0.66" // dropped by the connect ACL
	IPConnectDeny  = "127.0.0.67" // rejected by the connect ACL
	IPConnectDefer = "127.0.0.68" // temporarily rejected by the connect ACL
	IPPredataDeny  = "127.0.0.69" // DATA rejected by the predata ACL
	IPNoPipelining = "127.0.0.70" // PIPELINING is not advertised to it
	IPMaxPerHost   = "127.0.0.71" // at most 2 simultaneous connections
	IPHostLookup   = "127.0.0.77" // reverse DNS is looked up (and fails)
	IPEarlyTalker  = "127.0.0.28" // PIPECONNECT is not advertised to it
	IPRelayAllowed = "127.0.0.2"  // may relay (relay_from_hosts)
	deadRemoteIP   = "127.0.0.3"  // destination of other domains: closed port
	deadRemotePort = 1
)

// confTemplate is the Exim run-time configuration of the lab. It is written
// to the lab directory, owned by the caller and not writable by others (Exim
// refuses it otherwise). Because it is not in Debian's trusted_configs list,
// Exim drops privilege for -C: the daemon, the queue runners and every
// transport run as the exim user (Debian-exim when the caller is root), so
// the lab directory is made writable by that user.
const confTemplate = `# eximlab test configuration: generated, loopback only.
primary_hostname = {{.PrimaryHost}}
qualify_domain = {{.LocalDomain}}
spool_directory = {{.Dir}}/spool
log_file_path = {{.Dir}}/log/%slog
pid_file_path = {{.Dir}}/exim.pid
exim_user = {{.User}}
exim_group = {{.Group}}
keep_environment =
local_interfaces = <; 127.0.0.1 ; ::1
daemon_smtp_ports = {{.Port}}
{{if .LogSelector}}log_selector = {{.LogSelector}}
{{end}}log_timezone = {{if .LogTimezone}}true{{else}}false{{end}}
timezone = {{.TimeZone}}

domainlist local_domains = {{.LocalDomain}}
hostlist relay_from_hosts = {{.IPRelayAllowed}}

# No DNS: reverse lookups only for one address, no ident.
host_lookup = {{.IPHostLookup}}
rfc1413_hosts =
dns_retrans = 1s
dns_retry = 1

queue_only = true
queue_run_in_order = true
ignore_bounce_errors_after = 2d
timeout_frozen_after = 7d

smtp_receive_timeout = 2s
smtp_enforce_sync = true
smtp_accept_max_nonmail = 5
smtp_max_synprot_errors = 3
smtp_max_unknown_commands = 3
smtp_accept_max_per_host = ${if eq{$sender_host_address}{{"{"}}{{.IPMaxPerHost}}{{"}"}}{2}{0}}
pipelining_advertise_hosts = ! {{.IPNoPipelining}} : *
# Exim 4.96 advertises PIPECONNECT, and then input sent before the greeting
# is allowed: withhold it from one address to get the synchronization error.
pipelining_connect_advertise_hosts = ! {{.IPEarlyTalker}} : *
helo_allow_chars =
auth_advertise_hosts = *

tls_advertise_hosts = *
tls_certificate = {{.Dir}}/tls/cert.pem
tls_privatekey = {{.Dir}}/tls/key.pem

acl_smtp_connect = acl_connect
acl_smtp_helo = acl_helo
acl_smtp_mail = acl_mail
acl_smtp_rcpt = acl_rcpt
acl_smtp_predata = acl_predata
acl_smtp_data = acl_data

begin acl

acl_connect:
  # (Exim 4.96 has no sub-second delays.) The pause lets the early talker's input arrive before Exim checks for
  # input sent ahead of the greeting.
  warn    hosts = {{.IPEarlyTalker}}
          delay = 1s
  drop    hosts = {{.IPConnectDrop}}
          message = connections from your address are dropped
  deny    hosts = {{.IPConnectDeny}}
          message = connections from your address are refused
  defer   hosts = {{.IPConnectDefer}}
          message = too busy, try again later
  accept

acl_helo:
  deny    condition = ${if eq{$sender_helo_name}{bad.helo.test}}
          message = HELO name rejected by policy
  accept

acl_mail:
  deny    senders = spammer@spam.test
          message = sender address blacklisted
  accept

acl_rcpt:
  accept  hosts = :
  warn    local_parts = panicme
          logwrite = :main,panic: eximlab: panic log entry requested by $sender_address
  deny    local_parts = ^.*[@%!/|] : ^\\.
          message = restricted characters in address
  defer   domains = +local_domains
          local_parts = greylist
          message = greylisted, please try again later
  deny    local_parts = norecipmsg
  warn    senders = grace@{{.PartnerDomain}}
          control = fakereject/message accepted but we pretend it was rejected
  accept  authenticated = *
          domains = {{.PartnerDomain}}
          local_parts = cut
          control = cutthrough_delivery
          verify = recipient
  accept  authenticated = *
  accept  hosts = +relay_from_hosts
  require message = relay not permitted
          domains = +local_domains
  require verify = sender
  require verify = recipient
  accept

acl_predata:
  deny    hosts = {{.IPPredataDeny}}
          message = no DATA accepted from your address
  accept

acl_data:
  deny    condition = ${if match{$h_subject:}{SPAM}}
          message = message looks like spam
  accept

begin authenticators

plain:
  driver = plaintext
  public_name = PLAIN
  server_prompts = :
  server_condition = ${if and {{"{{"}}eq{$auth2}{testuser}{{"}"}}{eq{$auth3}{secret}{{"}}"}}}
  server_set_id = $auth2
  server_advertise_condition = true

login:
  driver = plaintext
  public_name = LOGIN
  server_prompts = Username:: : Password::
  server_condition = ${if and {{"{{"}}eq{$auth1}{testuser}{{"}"}}{eq{$auth2}{secret}{{"}}"}}}
  server_set_id = $auth1
  server_advertise_condition = true

begin routers

partner:
  driver = manualroute
  domains = {{.PartnerDomain}}
  route_list = * 127.0.0.1
  self = send
  transport = sink_smtp
  no_more

defer_domain:
  driver = redirect
  domains = {{.DeferDomain}}
  allow_defer
  data = :defer: no route to this domain for now
  no_more

remote:
  driver = manualroute
  domains = ! +local_domains
  route_list = * {{.DeadRemoteIP}}
  self = send
  transport = dead_smtp
  no_more

failbox:
  driver = redirect
  domains = +local_domains
  local_parts = bounceme
  allow_fail
  data = :fail: mailbox disabled
  no_verify

deferbox:
  driver = redirect
  domains = +local_domains
  local_parts = deferme
  allow_defer
  data = :defer: mailbox temporarily unavailable
  no_verify

# bounceme and deferme pass verification: they fail or defer only when
# delivered.
verify_only_boxes:
  driver = accept
  domains = +local_domains
  local_parts = bounceme : deferme
  verify_only

aliases:
  driver = redirect
  domains = +local_domains
  allow_fail
  allow_defer
  data = ${lookup{$local_part}lsearch{{"{"}}{{.Dir}}/aliases{{"}"}}}
  file_transport = address_file
  pipe_transport = address_pipe

admin_pipe:
  driver = accept
  domains = +local_domains
  local_parts = admin
  transport = admin_pipe

maildir_user:
  driver = accept
  domains = +local_domains
  local_parts = alice
  transport = maildir

mbox_user:
  driver = accept
  domains = +local_domains
  local_parts = info : root
  transport = mbox

# legacy's transport still uses the tainted $local_part in a file name:
# Exim 4.94+ refuses it at delivery time and writes to the panic log.
legacy_user:
  driver = accept
  domains = +local_domains
  local_parts = legacy
  transport = legacy_mbox

begin transports

legacy_mbox:
  driver = appendfile
  file = {{.Dir}}/mail/$local_part.mbox
  user = {{.User}}
  group = {{.Group}}

sink_smtp:
  driver = smtp
  port = {{.SinkPort}}
  hosts_avoid_tls = *

dead_smtp:
  driver = smtp
  port = {{.DeadRemotePort}}

maildir:
  driver = appendfile
  directory = {{.Dir}}/mail/${local_part_data}/Maildir
  maildir_format
  create_directory
  user = {{.User}}
  group = {{.Group}}
  delivery_date_add
  envelope_to_add
  return_path_add

mbox:
  driver = appendfile
  file = {{.Dir}}/mail/${local_part_data}.mbox
  user = {{.User}}
  group = {{.Group}}
  delivery_date_add
  envelope_to_add
  return_path_add

admin_pipe:
  driver = pipe
  command = /bin/sh -c "cat >> {{.Dir}}/mail/admin.pipe"
  user = {{.User}}
  group = {{.Group}}
  return_fail_output

address_pipe:
  driver = pipe
  user = {{.User}}
  group = {{.Group}}
  return_output

address_file:
  driver = appendfile
  user = {{.User}}
  group = {{.Group}}
  delivery_date_add
  envelope_to_add
  return_path_add

begin retry

*   *   F,2h,15m; G,16h,1h,1.5; F,4d,6h
`

// aliasesTemplate is the lsearch file of the aliases router.
const aliasesTemplate = `postmaster: alice
root: alice, info
abuse: {{.Dir}}/mail/abuse.file
pipe: |/bin/sh -c "cat > /dev/null"
devnull: :blackhole:
gone: :fail: this user has left the company
`

type confData struct {
	Dir, User, Group, LogSelector, TimeZone string
	Port, SinkPort                          int
	LogTimezone                             bool

	PrimaryHost, LocalDomain, PartnerDomain, DeferDomain                                    string
	IPConnectDrop, IPConnectDeny, IPConnectDefer, IPPredataDeny                             string
	IPNoPipelining, IPMaxPerHost, IPHostLookup, IPRelayAllowed, DeadRemoteIP, IPEarlyTalker string
	DeadRemotePort                                                                          int
}

func writeTemplate(path, text string, data any, mode os.FileMode) error {
	t, err := template.New(filepath.Base(path)).Parse(text)
	if err != nil {
		return fmt.Errorf("parse template %s: %w", path, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		return fmt.Errorf("execute template %s: %w", path, err)
	}
	if err := os.WriteFile(path, []byte(b.String()), mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Chmod(path, mode)
}
