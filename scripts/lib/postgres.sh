# Sourced by scripts/test and scripts/bench: starts a throw-away PostgreSQL on loopback.
#
#   start_postgres DIR   initialises a cluster under DIR, starts it on a free 127.0.0.1 port,
#                        creates database "herald" and exports HERALD_TEST_POSTGRES_URL.
#                        The caller stops it with stop_postgres DIR (scripts/test's clean-up).
#
# initdb and postgres refuse to run as root, so as root they run as the `postgres` user.

postgres_bin() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        [[ -x $dir/initdb ]] && { echo "$dir"; return; }
    done
    command -v initdb >/dev/null && { dirname "$(command -v initdb)"; return; }
    return 1
}

as_postgres_user() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
    local dir=$1 bin port
    if ! bin=$(postgres_bin); then
        echo "installing PostgreSQL from Debian's packages" >&2
        apt-get install -y -qq postgresql >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq postgresql >/dev/null; }
        bin=$(postgres_bin)
    fi
    mkdir -p "$dir"
    [[ $(id -u) == 0 ]] && chown postgres "$dir"
    chmod 700 "$dir"
    as_postgres_user "$bin/initdb" -D "$dir/data" -U herald -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; return 1; }
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    # Durable settings, as production: fsync and synchronous_commit stay on.
    as_postgres_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $port -k $dir -c max_connections=200 -c shared_buffers=256MB" start >/dev/null ||
        { cat "$dir/postgres.log" >&2; return 1; }
    "$bin/createdb" -h 127.0.0.1 -p "$port" -U herald herald
    export HERALD_TEST_POSTGRES_URL="postgres://herald@127.0.0.1:$port/herald"
}

stop_postgres() {
    local dir=$1 bin
    bin=$(postgres_bin) || return 0
    [[ -d $dir/data ]] && as_postgres_user "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1
    return 0
}
