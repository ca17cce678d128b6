#!/bin/sh
# The orchestrator container writes the configuration into the shared volume
# (`orchestrator engine configure`-equivalent at its start); wait for it, then run Asterisk.
set -e
conf=/var/lib/orchestrator/default/etc/asterisk.conf
while [ ! -f "$conf" ]; do echo "waiting for $conf"; sleep 1; done
chown -R asterisk:asterisk /var/lib/orchestrator/default
exec asterisk -f -U asterisk -G asterisk -C "$conf"
