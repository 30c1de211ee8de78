# Sourced by test.sh: start_test_postgres BIN starts a PostgreSQL server of its own (initdb into a temporary
# directory, listening on a free loopback port, password authentication) and exports its location for the
# PostgreSQL store tests as NEURON_EXPLAINER_TEST_POSTGRES (a postgresql:// URL) with the password in PGPASSWORD.
# An EXIT trap stops it and removes its directory. When it cannot start, NEURON_EXPLAINER_TEST_POSTGRES_ERROR says
# why, and the PostgreSQL tests fail with that line instead of being skipped.

start_test_postgres() {
    local bin=$1 run_as=() port password
    test_postgres_bin=$bin
    test_postgres_dir=$(mktemp -d "${TMPDIR:-/tmp}/neuron-explainer-pg.XXXXXX")
    trap stop_test_postgres EXIT
    # initdb and postgres refuse to run as root: there they run as the postgres user.
    if [ "$(id -u)" = 0 ]; then
        if ! id postgres >/dev/null 2>&1; then
            export NEURON_EXPLAINER_TEST_POSTGRES_ERROR="test.sh runs as root and there is no postgres user to run PostgreSQL as"
            echo "warning: $NEURON_EXPLAINER_TEST_POSTGRES_ERROR" >&2
            return 0
        fi
        chown postgres "$test_postgres_dir"
        run_as=(runuser -u postgres --)
    fi
    password=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
    printf '%s\n' "$password" >"$test_postgres_dir/pwfile"
    if [ "$(id -u)" = 0 ]; then chown postgres "$test_postgres_dir/pwfile"; fi
    if ! "${run_as[@]}" "$bin/initdb" -D "$test_postgres_dir/data" -U postgres --auth=scram-sha-256 --pwfile="$test_postgres_dir/pwfile" \
            -E UTF8 --locale=C >"$test_postgres_dir/initdb.log" 2>&1; then
        export NEURON_EXPLAINER_TEST_POSTGRES_ERROR="initdb failed: $(tail -n 1 "$test_postgres_dir/initdb.log")"
        echo "warning: $NEURON_EXPLAINER_TEST_POSTGRES_ERROR" >&2
        return 0
    fi
    rm -f "$test_postgres_dir/pwfile"
    # A few random ports, in case one is taken; fsync off because the server is thrown away after the tests.
    for _ in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 30000))
        if "${run_as[@]}" "$bin/pg_ctl" -D "$test_postgres_dir/data" -l "$test_postgres_dir/server.log" -w -t 60 \
                -o "-c listen_addresses=127.0.0.1 -p $port -k $test_postgres_dir -c max_connections=300 -c fsync=off -c synchronous_commit=off" \
                start >/dev/null 2>&1; then
            export NEURON_EXPLAINER_TEST_POSTGRES="postgresql://postgres@127.0.0.1:$port/postgres" PGPASSWORD="$password"
            unset NEURON_EXPLAINER_TEST_POSTGRES_ERROR
            echo "PostgreSQL for the tests: $NEURON_EXPLAINER_TEST_POSTGRES" >&2
            return 0
        fi
    done
    export NEURON_EXPLAINER_TEST_POSTGRES_ERROR="PostgreSQL did not start: $(tail -n 1 "$test_postgres_dir/server.log" 2>/dev/null)"
    echo "warning: $NEURON_EXPLAINER_TEST_POSTGRES_ERROR" >&2
}

stop_test_postgres() {
    [ -n "${test_postgres_dir:-}" ] || return 0
    if [ -f "$test_postgres_dir/data/postmaster.pid" ]; then
        local run_as=()
        if [ "$(id -u)" = 0 ]; then run_as=(runuser -u postgres --); fi
        "${run_as[@]}" "$test_postgres_bin/pg_ctl" -D "$test_postgres_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$test_postgres_dir"
}
