#!/usr/bin/env bash
# One-shot: create the pipeline's topics on Redpanda. Safe to run again: existing topics are left
# as they are. Waits until REDPANDA_EXPECTED_BROKERS brokers have joined, so the three-node
# profile gets replicated topics (replication factor = min(3, brokers)).
set -euo pipefail

brokers="${REDPANDA_BROKERS:-redpanda-0:9092}"
admin="${REDPANDA_ADMIN:-redpanda-0:9644}"
expected="${REDPANDA_EXPECTED_BROKERS:-1}"
replicas=$(( expected < 3 ? expected : 3 ))
rpk_() { rpk -X "brokers=${brokers}" -X "admin.hosts=${admin}" "$@"; }

for attempt in $(seq 1 90); do
  nodes=$({ rpk_ cluster health 2>/dev/null || true; } | sed -n 's/^All nodes:[[:space:]]*\[\(.*\)\]/\1/p' | wc -w)
  [ "${nodes}" -ge "${expected}" ] && break
  echo "waiting for ${expected} broker(s), ${nodes} up (attempt ${attempt})"
  sleep 2
done
[ "${nodes}" -ge "${expected}" ] || { echo "only ${nodes} of ${expected} brokers joined" >&2; exit 1; }

# name partitions retention. Keys are symbols, so a symbol's records stay in order in one
# partition; the partition count caps the parallelism of Flink's sources and of consumer groups.
topics=(
  "stock-prices    6 604800000"     # 7 days: enough to rebuild indicator state after an outage
  "market-news     3 2592000000"    # 30 days
  "trading-signals 6 2592000000"    # 30 days: the consumer's audit trail outlives it anyway
  "orders          3 7776000000"    # 90 days
  "dead-letter     1 2592000000"    # 30 days, for inspection
)
for spec in "${topics[@]}"; do
  read -r name partitions retention <<<"${spec}"
  if rpk_ topic describe "${name}" >/dev/null 2>&1; then
    echo "topic ${name} exists"
    continue
  fi
  rpk_ topic create "${name}" -p "${partitions}" -r "${replicas}" \
    -c "retention.ms=${retention}" -c cleanup.policy=delete
done
rpk_ topic list
