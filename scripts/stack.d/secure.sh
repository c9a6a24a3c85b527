# scripts/stack security mode (EXIMSHIP_STACK_SECURITY=on), sourced by
# scripts/stack. Everything a secured Kafka and Elasticsearch need, made for
# the test and kept in $STATE/secure (docs/SECURITY.md):
#
#   ca.pem, ca.key           the test CA (trusted by both servers)
#   other-ca.pem             a second CA nobody trusts (negative tests)
#   server.pem, server.key   localhost + 127.0.0.1, signed by the CA
#   client.pem, client.key   CN=eximship-client, signed by the CA (mTLS)
#   rogue-client.pem/.key    CN=eximship-client, signed by other-ca
#   kafka-server.pem         Kafka's PEM keystore (PKCS#8 key + chain)
#   kafka.password           password of the Kafka user "eximship" (PLAIN,
#                            SCRAM-SHA-256, SCRAM-SHA-512)
#   es-<user>.password       passwords of the Elasticsearch file-realm users
#
# Kafka listeners: PLAINTEXT (admin, inter-broker), SASL_PLAINTEXT, SSL
# (client certificate required) and SASL_SSL. SCRAM credentials are created
# with Kafka's own kafka-configs tool (kafka.admin.ConfigCommand), PLAIN
# users are the JAAS user_<name> entries.
# Elasticsearch: security on, HTTPS only (client certificates optional and
# verified), a file realm (users made with bin/elasticsearch-users), a PKI
# realm (client certificate -> roles by scripts/stack.d/es-role-mapping.yml;
# it needs the trial license the node starts with), roles from
# scripts/stack.d/es-roles.yml.

SECURE=
case ${EXIMSHIP_STACK_SECURITY:-off} in
on | 1 | true | yes) SECURE=1 ;;
off | 0 | false | no | "") ;;
*) die "EXIMSHIP_STACK_SECURITY must be on or off, got '$EXIMSHIP_STACK_SECURITY'" ;;
esac
KAFKA_SASL_PORT=${EXIMSHIP_KAFKA_SASL_PORT:-$((KAFKA_PORT + 2))}
KAFKA_SSL_PORT=${EXIMSHIP_KAFKA_SSL_PORT:-$((KAFKA_PORT + 3))}
KAFKA_SASL_SSL_PORT=${EXIMSHIP_KAFKA_SASL_SSL_PORT:-$((KAFKA_PORT + 4))}
SEC=$STATE/secure
KAFKA_USER=eximship
# Elasticsearch file-realm users and their roles (roles in es-roles.yml).
ES_USERS=(
	"eximship-admin:superuser"
	"eximship-run:eximship_run"
	"eximship-setup:eximship_setup"
	"eximship-replay:eximship_replay"
	"eximship-readonly:eximship_test_readonly"
)

es_scheme() { if [[ -n $SECURE ]]; then echo https; else echo http; fi; }

# es_curl ARGS...: curl to the node, as the admin user over HTTPS when secure.
es_curl() {
	if [[ -n $SECURE ]]; then
		curl --cacert "$SEC/ca.pem" -u "eximship-admin:$(<"$SEC/es-eximship-admin.password")" "$@"
	else
		curl "$@"
	fi
}

# secure_files: the CA, certificates and passwords (made once per state dir).
secure_files() {
	[[ -f $SEC/.done ]] && return 0
	need openssl "apt-get install openssl (scripts/install-deps)"
	log "making the test CA, certificates and passwords in $SEC"
	rm -rf "$SEC"
	mkdir -p "$SEC"
	chmod 700 "$SEC"
	(
		cd "$SEC"
		ca() { # ca NAME CN
			openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -keyout "$1.key" -out "$1.pem" \
				-subj "/O=eximship test/CN=$2" \
				-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
		}
		leaf() { # leaf NAME CA CN EXT
			openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$1.key" -out "$1.csr" -subj "/O=eximship test/CN=$3" 2>/dev/null
			printf '%s\n' "$4" >"$1.ext"
			openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -sha256 -days 825 \
				-extfile "$1.ext" -out "$1.pem" 2>/dev/null
			rm -f "$1.csr" "$1.ext"
		}
		ca ca "eximship test CA"
		ca other-ca "untrusted test CA"
		leaf server ca localhost $'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment'
		leaf client ca eximship-client $'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment'
		leaf rogue-client other-ca eximship-client $'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment'
		# Kafka's PEM keystore: one PKCS#8 key, then the chain.
		openssl pkcs8 -topk8 -nocrypt -in server.key -out server.pkcs8.key
		cat server.pkcs8.key server.pem ca.pem >kafka-server.pem
		rm -f server.pkcs8.key ./*.srl
		openssl rand -hex 16 >kafka.password
		local u
		for u in "${ES_USERS[@]}"; do openssl rand -hex 16 >"es-${u%%:*}.password"; done
		chmod 600 ./*.key ./*.password kafka-server.pem
	)
	touch "$SEC/.done"
}

# kafka_secure_config: listeners and SASL/TLS settings appended to
# server.properties.
kafka_secure_config() {
	local a=127.0.0.1 jaas pw m l
	pw=$(<"$SEC/kafka.password")
	cat >>"$KDIR/server.properties" <<EOF
# Security mode (EXIMSHIP_STACK_SECURITY=on): PLAINTEXT stays for the
# inter-broker traffic and the test's admin client.
listeners=PLAINTEXT://$a:$KAFKA_PORT,CONTROLLER://$a:$KAFKA_CTRL_PORT,SASL_PLAINTEXT://$a:$KAFKA_SASL_PORT,SSL://$a:$KAFKA_SSL_PORT,SASL_SSL://$a:$KAFKA_SASL_SSL_PORT
advertised.listeners=PLAINTEXT://$a:$KAFKA_PORT,SASL_PLAINTEXT://$a:$KAFKA_SASL_PORT,SSL://$a:$KAFKA_SSL_PORT,SASL_SSL://$a:$KAFKA_SASL_SSL_PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
ssl.keystore.type=PEM
ssl.keystore.location=$SEC/kafka-server.pem
ssl.truststore.type=PEM
ssl.truststore.location=$SEC/ca.pem
listener.name.ssl.ssl.client.auth=required
EOF
	for l in sasl_plaintext sasl_ssl; do
		for m in scram-sha-256 scram-sha-512; do
			echo "listener.name.$l.$m.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;" >>"$KDIR/server.properties"
		done
		jaas="org.apache.kafka.common.security.plain.PlainLoginModule required user_$KAFKA_USER=\"$pw\";"
		echo "listener.name.$l.plain.sasl.jaas.config=$jaas" >>"$KDIR/server.properties"
	done
	chmod 600 "$KDIR/server.properties"
}

# kafka_scram_users: SCRAM-SHA-256 and -512 credentials for the user, with
# Kafka's kafka-configs tool over the PLAINTEXT listener (idempotent).
kafka_scram_users() {
	local pw out m
	pw=$(<"$SEC/kafka.password")
	# One mechanism per request (the broker refuses two for one user).
	for m in SCRAM-SHA-256 SCRAM-SHA-512; do
		out=$(kafka_tool kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter \
			--entity-type users --entity-name "$KAFKA_USER" --add-config "$m=[password=$pw]" 2>&1) ||
			{ echo "$out" | sed "s/$pw/REDACTED/g" >&2; die "could not create the $m credentials of $KAFKA_USER"; }
	done
}

# es_secure_config: security settings, certificates, roles and file-realm
# users in the node's config directory.
es_secure_config() {
	local conf=$1 u name role pw
	mkdir -p "$conf/certs"
	cp "$SEC/ca.pem" "$SEC/server.pem" "$SEC/server.key" "$conf/certs/"
	cp "$LIB/es-roles.yml" "$conf/roles.yml"
	cp "$LIB/es-role-mapping.yml" "$conf/role_mapping.yml"
	cat >>"$conf/elasticsearch.yml" <<EOF
# Security mode (EXIMSHIP_STACK_SECURITY=on), see docs/SECURITY.md.
xpack.security.enabled: true
xpack.security.http.ssl.enabled: true
xpack.security.http.ssl.key: certs/server.key
xpack.security.http.ssl.certificate: certs/server.pem
xpack.security.http.ssl.certificate_authorities: [certs/ca.pem]
xpack.security.http.ssl.client_authentication: optional
xpack.security.authc.realms.file.file1.order: 0
xpack.security.authc.realms.pki.pki1.order: 1
xpack.security.authc.realms.pki.pki1.certificate_authorities: [certs/ca.pem]
# The PKI realm (authentication by client certificate) needs a Platinum
# license: a new test cluster starts with a 30-day trial one.
xpack.license.self_generated.type: trial
# roles.yml and users are re-read within a second of a change (tests edit
# a role while eximship runs); the default is 5s.
resource.reload.interval.high: 1s
EOF
	# Users: created with Elasticsearch's own tool, once (the users file
	# stays with the node's config).
	touch "$conf/users" "$conf/users_roles"
	for u in "${ES_USERS[@]}"; do
		name=${u%%:*} role=${u#*:}
		grep -q "^$name:" "$conf/users" && continue
		pw=$(<"$SEC/es-$name.password")
		ES_PATH_CONF=$conf ES_JAVA_HOME=$(java_home) "$ES_HOME/bin/elasticsearch-users" useradd "$name" -p "$pw" -r "$role" >/dev/null ||
			die "elasticsearch-users useradd $name failed"
	done
}

# secure_env: the stack.env lines of the security mode.
secure_env() {
	cat <<EOF
EXIMSHIP_STACK_SECURITY=on
EXIMSHIP_SECURE_DIR=$SEC
EXIMSHIP_KAFKA_SASL_PLAINTEXT_BROKERS=127.0.0.1:$KAFKA_SASL_PORT
EXIMSHIP_KAFKA_SSL_BROKERS=127.0.0.1:$KAFKA_SSL_PORT
EXIMSHIP_KAFKA_SASL_SSL_BROKERS=127.0.0.1:$KAFKA_SASL_SSL_PORT
EXIMSHIP_KAFKA_USER=$KAFKA_USER
EOF
}
