#!/usr/bin/env bash
# Turns infra/schedules.toml into Kubernetes CronJobs that call the ticks of the SpinKube app.
# Usage: infra/deploy/gen-cronjobs.sh infra/schedules.toml > infra/deploy/cronjobs.yaml
# Kubernetes cron has minute resolution: ticks more frequent than a minute run every minute
# (ticks catch up on whatever is due, so a coarser schedule is safe); hourly and daily ticks
# run at minute 0 (and hour 0).
set -euo pipefail
file="${1:-infra/schedules.toml}"
echo "# Generated from $file by infra/deploy/gen-cronjobs.sh — do not edit by hand."
awk '
  /^\[\[tick\]\]/ { if (name) emit(); name=""; route=""; every=60; next }
  /^name *=/  { gsub(/.*= *"|".*/, ""); name=$0 }
  /^route *=/ { gsub(/.*= *"|".*/, ""); route=$0 }
  /^every_seconds *=/ { gsub(/.*= */, ""); every=$0+0 }
  END { if (name) emit() }
  function emit(  mins, hours, days, sched) {
    mins = int(every / 60); if (mins < 1) mins = 1
    # Steps must stay inside their field (minutes 0-59, hours 0-23): hourly and daily ticks
    # are written in hours and days ("*/60" in the minute field would not mean hourly).
    hours = int(mins / 60); days = int(hours / 24)
    if (mins < 60) sched = (mins == 1) ? "* * * * *" : "*/" mins " * * * *"
    else if (hours < 24) sched = (hours == 1) ? "0 * * * *" : "0 */" hours " * * *"
    else sched = (days == 1) ? "0 0 * * *" : "0 0 */" days " * *"
    print "---"
    print "apiVersion: batch/v1"
    print "kind: CronJob"
    print "metadata:"
    print "  name: caas-tick-" name
    print "spec:"
    print "  schedule: \"" sched "\""
    print "  concurrencyPolicy: Forbid"
    print "  jobTemplate:"
    print "    spec:"
    print "      backoffLimit: 0"
    print "      template:"
    print "        spec:"
    print "          restartPolicy: Never"
    print "          containers:"
    print "            - name: tick"
    print "              image: curlimages/curl:8.10.1"
    print "              env:"
    print "                - name: TICK_SECRET"
    print "                  valueFrom: { secretKeyRef: { name: caas-secrets, key: tick_secret } }"
    print "              args: [\"-fsS\", \"-X\", \"POST\", \"-H\", \"Authorization: Bearer $(TICK_SECRET)\", \"http://caas" route "\"]"
  }
' "$file"
