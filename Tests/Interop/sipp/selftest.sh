#!/bin/sh
# Self-test of the sipp scenarios against each other (no Trabant involved),
# over TCP on 127.0.0.1.   Usage: ./selftest.sh [calls] [rate]
# Ports: UAS 15070 (SIP) / 15080+15082 (media) / 15098 (sipp control, UDP),
#        UAC 15060 (SIP) / 15090+15092 (media) / 15099 (sipp control, UDP).
# Logs go to $LOGDIR (default: a fresh mktemp -d directory).
set -u
DIR=$(cd "$(dirname "$0")" && pwd)
CALLS=${1:-20}
RATE=${2:-10}
LOGDIR=${LOGDIR:-$(mktemp -d /tmp/trabant-sipp.XXXXXX)}
TARGET='<sip:bob@127.0.0.1:15070;transport=tcp>'
FAIL=0

counts() {  # "<successful>/<failed>" from a sipp screen dump
    ok=$(grep -a 'Successful call' "$1" | tail -1 | awk '{print $NF}')
    ko=$(grep -a 'Failed call' "$1" | tail -1 | awk '{print $NF}')
    echo "${ok:-?} ok/${ko:-?} failed"
}

# pair NAME UAS_SCENARIO UAC_SCENARIO EXPECTED_UAS_RC EXPECTED_UAC_RC [extra uac args...]
pair() {
    name=$1 uas=$2 uac=$3 want_uas=$4 want_uac=$5
    shift 5
    (cd "$LOGDIR" && exec sipp -sf "$DIR/$uas" -t t1 -i 127.0.0.1 -p 15070 \
        -mi 127.0.0.1 -mp 15080 -cp 15098 -m "$CALLS" -nostdin \
        -timeout 60s -timeout_error -trace_err -trace_msg \
        >"$name.uas.out" 2>&1) &
    uas_pid=$!
    sleep 1
    (cd "$LOGDIR" && exec sipp 127.0.0.1:15070 -sf "$DIR/$uac" -t t1 -i 127.0.0.1 \
        -p 15060 -mi 127.0.0.1 -mp 15090 -cp 15099 -key target "$TARGET" \
        -m "$CALLS" -r "$RATE" -nostdin -timeout 60s -timeout_error \
        -trace_err -trace_msg "$@" >"$name.uac.out" 2>&1)
    uac_rc=$?
    wait "$uas_pid"
    uas_rc=$?
    verdict=PASS
    [ "$uac_rc" -eq "$want_uac" ] && [ "$uas_rc" -eq "$want_uas" ] || { verdict=FAIL; FAIL=1; }
    echo "$verdict $name: uac $uac (exit $uac_rc, $(counts "$LOGDIR/$name.uac.out")) <-> uas $uas (exit $uas_rc, $(counts "$LOGDIR/$name.uas.out"))"
}

pair srtp        uas_srtp.xml         uac_srtp.xml      0 0
pair srtp_hold   uas_srtp.xml         uac_srtp.xml      0 0 -d 200
pair plain_488   uas_reject_488.xml   uac_plain_rtp.xml 0 0
pair busy_486    uas_busy_486.xml     uac_srtp_busy.xml 0 0
pair cancel      uas_ring_forever.xml uac_cancel.xml    0 0
pair cancel_ring uas_ring_forever.xml uac_cancel.xml    0 0 -d 200
pair hold        uas_hold.xml         uac_hold.xml      0 0
# negative: uas_srtp must refuse a plain RTP offer with 488 and count the call failed
pair srtp_refuse uas_srtp.xml         uac_plain_rtp.xml 1 0

echo "logs in $LOGDIR"
exit $FAIL
