#!/usr/bin/env bash
# Layers point down only. Each top-level module of src/ has a rank; code in a
# module may use (`crate::x`, `super::x` at the top, `use switchboard::x`)
# only modules of a rank no higher than its own. Comment lines are skipped.
#   0  domain, clock, api_error, integrations   (pure data and helpers)
#   1  store, replica, auth, webhooks, metrics, directory_file
#   2  engine
#   3  transport, demo
#   4  server, cli, admin_client
#   5  main.rs
# Usage: ./scripts/check-layers.sh   (exit 1 and the offending lines if any)
set -euo pipefail
cd "$(dirname "$0")/.."

declare -A rank=(
  [domain]=0 [clock]=0 [api_error]=0 [integrations]=0
  [store]=1 [replica]=1 [auth]=1 [webhooks]=1 [metrics]=1 [directory_file]=1
  [engine]=2
  [transport]=3 [demo]=3
  [server]=4 [cli]=4 [admin_client]=4
  [main]=5 [lib]=5
)

status=0
for path in src/*; do
  name=$(basename "$path" .rs)
  [ "$name" = "demo_directory.toml" ] && continue
  if [ -z "${rank[$name]+x}" ]; then
    echo "src/$name: no layer assigned in scripts/check-layers.sh" >&2
    status=1
    continue
  fi
  mine=${rank[$name]}
  while IFS= read -r hit; do
    file=${hit%%:*}
    rest=${hit#*:}
    line=${rest%%:*}
    text=${rest#*:}
    case "$(echo "$text" | sed 's/^[[:space:]]*//')" in //*) continue ;; esac
    for used in $(echo "$text" | grep -oE '(crate|switchboard)::[a-z_]+' | sed -E 's/^(crate|switchboard):://' | sort -u); do
      [ -z "${rank[$used]+x}" ] && continue
      if [ "${rank[$used]}" -gt "$mine" ]; then
        echo "$file:$line: $name (layer $mine) uses $used (layer ${rank[$used]}): layers point down only" >&2
        status=1
      fi
    done
  done < <(grep -rnE '(crate|switchboard)::[a-z_]+' "$path" --include='*.rs' -H || true)
done
if [ "$status" -eq 0 ]; then
  echo "layers: every module uses only its own layer or lower ones"
fi
exit "$status"
