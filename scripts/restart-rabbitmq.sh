#!/usr/bin/env bash
# Restart the broker started by scripts/start-rabbitmq.sh: stop the node and
# start it again on the same AMQP port with the same data dir, so durable
# queues and persistent messages survive. Blocks until the broker accepts
# connections again, then logs "broker back up ..." on stderr and prints the
# same `export ...` lines as start-rabbitmq.sh on stdout.
# Usage: ESOCIAL_RABBITMQ_BASE=/tmp/esocial-rmq.XXXX scripts/restart-rabbitmq.sh
#    or: scripts/restart-rabbitmq.sh /tmp/esocial-rmq.XXXX
# ESOCIAL_RABBITMQ_DOWN_SECS=N keeps the broker down for N seconds in between.
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/start-rabbitmq.sh" --restart "$@"
