# Sourced by scripts/test: runs schemathesis against /openapi.json of a live `herald serve`.
#
#   run_schemathesis DIR   starts the debug build's `herald serve` on a free loopback port with a
#                          fresh SQLite database under DIR, takes the admin key it prints, and
#                          runs schemathesis with a fixed seed: no 5xx, and every status code,
#                          content type and body as the document says. Stops the server after.
#
# The key's own revocation is left out: revoking the only key would turn the rest into 401s.
# POST /accounts/{id}/test connects to whatever host a generated account names (say "3", which is
# 0.0.0.3 and never answers): it may take its 8 s per phase, so requests may take up to 40 s.

run_schemathesis() {
    local dir=$1 binary=$PWD/.build/debug/herald pid url key status
    mkdir -p "$dir"
    (cd "$dir" && exec env HERALD_RATE_LIMIT=100000 "$binary" serve --port 0 \
        >"$dir/serve.out" 2>"$dir/serve.log") &
    pid=$!
    local deadline=$((SECONDS + 60))
    until url=$(grep -o 'url=http://127.0.0.1:[0-9]*' "$dir/serve.log" 2>/dev/null | head -1) && [[ -n $url ]]; do
        if ((SECONDS >= deadline)) || ! kill -0 "$pid" 2>/dev/null; then
            cat "$dir/serve.log" >&2
            kill "$pid" 2>/dev/null
            return 1
        fi
        sleep 0.2
    done
    url=${url#url=}
    key=$(grep -o 'hk_[A-Za-z0-9_-]*' "$dir/serve.out" | head -1)
    status=0
    schemathesis run "$url/openapi.json" --header "Authorization: Bearer $key" --exclude-operation-id Revoke_a_key \
        --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
        --max-examples 30 --seed 20251025 --request-timeout 40 --no-color || status=$?
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
    return $status
}
