#!/usr/bin/env bash
# Builds the .deb with CPack, installs it with dpkg -i, checks files, the user, permissions and enablement, runs the
# installed binary, gates the installed unit with systemd-analyze, then purges. Needs root; with CI=true a skip fails.
set -u
BUILD=$1
WORK=$(mktemp -d)
# dpkg has no lock timeout: other installs (apt in a parallel job) may hold the lock for a while.
dpkg_locked() {  # dpkg_locked args...: run dpkg, retrying for up to 10 minutes while its lock is held
  local i
  for i in $(seq 1 300); do
    dpkg "$@" >"$WORK/dpkg.log" 2>&1 && return 0
    grep -q "lock" "$WORK/dpkg.log" || return 1
    sleep 2
  done
  return 1
}
cleanup() { dpkg_locked --purge rpm-gateway; rm -rf "$WORK"; }
trap cleanup EXIT
passed=0; failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
expect_mode() {  # path mode owner:group
  local got
  got=$(stat -c '%a %U:%G' "$1" 2>/dev/null)
  if [ "$got" = "$2 $3" ]; then ok; else bad "$1 is '$got', expected '$2 $3'"; fi
}

if [ "$(id -u)" != 0 ]; then
  echo "package test needs root"
  if [ "${CI:-}" = "true" ]; then exit 1; fi
  exit 0
fi
if dpkg -s rpm-gateway >/dev/null 2>&1; then
  echo "rpm-gateway is already installed on this machine; refusing to touch it"; exit 1
fi

(cd "$WORK" && cpack --config "$BUILD/CPackConfig.cmake" -B "$WORK/out" >"$WORK/cpack.log" 2>&1) ||
  { cat "$WORK/cpack.log"; bad "cpack failed"; echo "package: $passed passed, $failed failed"; exit 1; }
DEB=$(ls "$WORK"/out/rpm-gateway_*.deb 2>/dev/null | head -1)
[ -n "$DEB" ] && ok || bad "no .deb produced"
dpkg-deb -f "$DEB" Depends | grep -q 'libtomlplusplus3' && ok || bad "Depends lacks the shared-library dependencies"
echo "Depends: $(dpkg-deb -f "$DEB" Depends)"

if dpkg_locked -i "$DEB"; then ok; else bad "dpkg -i failed"; cat "$WORK/dpkg.log"; fi
for f in /usr/bin/rpm-gateway /usr/lib/systemd/system/rpm-gateway.service /usr/lib/sysusers.d/rpm-gateway.conf \
         /usr/lib/tmpfiles.d/rpm-gateway.conf /etc/rpm-gateway/gateway.toml \
         /usr/share/doc/rpm-gateway/mosquitto/mosquitto-hardening.conf /usr/share/doc/rpm-gateway/README.md \
         /usr/share/doc/rpm-gateway/sbom.spdx.json; do
  [ -e "$f" ] && ok || bad "missing $f"
done
getent passwd rpm-gateway >/dev/null && ok || bad "user rpm-gateway not created"

# SBOM: shipped in the package, valid SPDX 2.3 JSON, naming every package of the .deb's Depends with its installed version.
SBOM=/usr/share/doc/rpm-gateway/sbom.spdx.json
dpkg-deb -c "$DEB" | grep -q '/usr/share/doc/rpm-gateway/sbom.spdx.json$' && ok || bad "the .deb does not contain the SBOM"
dpkg-deb -f "$DEB" Depends >"$WORK/depends"
cat >"$WORK/check_sbom.py" <<'PY'
import json, re, subprocess, sys
doc = json.load(open(sys.argv[1]))
problems = []
if doc.get("spdxVersion") != "SPDX-2.3" or doc.get("SPDXID") != "SPDXRef-DOCUMENT":
    problems.append("not an SPDX 2.3 document")
for key in ("dataLicense", "name", "documentNamespace", "creationInfo", "packages", "relationships"):
    if key not in doc:
        problems.append("missing " + key)
pkgs = {p["name"]: p for p in doc.get("packages", [])}
for required in ("libc6", "libsqlite3-0"):
    if required not in pkgs:
        problems.append("SBOM does not name " + required)
ids = {p["SPDXID"] for p in doc.get("packages", [])}
for r in doc.get("relationships", []):
    if r["relatedSpdxElement"] not in ids:
        problems.append("relationship to an undeclared element " + r["relatedSpdxElement"])
for entry in open(sys.argv[2]).read().split(","):
    names = [re.match(r"\s*([a-z0-9][a-z0-9+.-]+)", alt).group(1) for alt in entry.split("|") if alt.strip()]
    if not names:
        continue
    found = [n for n in names if n in pkgs]
    if not found:
        problems.append("Depends entry without an SBOM package: " + entry.strip())
        continue
    v = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", found[0]], capture_output=True, text=True).stdout
    if pkgs[found[0]].get("versionInfo") != v:
        problems.append(f"{found[0]}: SBOM version {pkgs[found[0]].get('versionInfo')} is not the installed {v}")
print("\n".join(problems) if problems else f"SBOM ok: {len(pkgs) - 1} packages")
sys.exit(1 if problems else 0)
PY
# The check must be able to fail: a planted SBOM without libsqlite3-0 and with a wrong libc6 version is refused.
python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
d["packages"]=[p for p in d["packages"] if p["name"]!="libsqlite3-0"]
[p.update(versionInfo="0") for p in d["packages"] if p["name"]=="libc6"]
json.dump(d,open(sys.argv[2],"w"))' "$SBOM" "$WORK/planted.json"
if python3 "$WORK/check_sbom.py" "$WORK/planted.json" "$WORK/depends" >"$WORK/planted.out" 2>&1; then
  bad "the SBOM check accepted a planted SBOM without libsqlite3-0"
else
  grep -q 'libsqlite3-0' "$WORK/planted.out" && grep -q 'libc6: SBOM version 0' "$WORK/planted.out" && ok ||
    { bad "the SBOM check missed a planted fault:"; cat "$WORK/planted.out"; }
fi
if python3 "$WORK/check_sbom.py" "$SBOM" "$WORK/depends" >"$WORK/sbom.out" 2>&1
then ok; cat "$WORK/sbom.out"; else bad "SBOM check:"; cat "$WORK/sbom.out"; fi
id -nG rpm-gateway 2>/dev/null | grep -qw bluetooth && ok || bad "rpm-gateway is not in group bluetooth"
id -nG rpm-gateway 2>/dev/null | grep -qw rpm-gateway-admin && ok || bad "rpm-gateway is not in group rpm-gateway-admin (control.admin_group)"
expect_mode /var/lib/rpm-gateway 700 rpm-gateway:rpm-gateway
expect_mode /etc/rpm-gateway 750 root:rpm-gateway
expect_mode /etc/rpm-gateway/gateway.toml 640 root:rpm-gateway
expect_mode /etc/rpm-gateway/credentials 700 root:root
expect_mode /etc/rpm-gateway/credentials/mqtt-password 600 root:root  # LoadCredential= sources exist
[ -L /etc/systemd/system/multi-user.target.wants/rpm-gateway.service ] && ok || bad "service not enabled"

/usr/bin/rpm-gateway version | grep -q '^rpm-gateway ' && ok || bad "installed rpm-gateway version failed"
/usr/bin/rpm-gateway check-config --config /etc/rpm-gateway/gateway.toml >/dev/null && ok ||
  bad "check-config on the installed example failed"

UNIT=/usr/lib/systemd/system/rpm-gateway.service
systemd-analyze security --offline=true --threshold=13 "$UNIT" >"$WORK/score" 2>&1 && ok ||
  bad "installed unit above 1.3: $(tail -1 "$WORK/score")"
systemd-analyze verify --man=no "$UNIT" >"$WORK/verify.out" 2>"$WORK/verify.err"
if [ $? -eq 0 ] && [ ! -s "$WORK/verify.err" ]; then ok; else bad "systemd-analyze verify printed:"; cat "$WORK/verify.err"; fi

if dpkg_locked --purge rpm-gateway; then ok; else bad "purge failed"; cat "$WORK/dpkg.log"; fi
[ ! -e /etc/systemd/system/rpm-gateway.service ] && ok || bad "a mask or unit file is left in /etc/systemd/system"
[ ! -e /usr/bin/rpm-gateway ] && [ ! -e /etc/rpm-gateway ] && [ ! -e /var/lib/rpm-gateway ] && ok ||
  bad "files left after purge"
[ ! -e /etc/systemd/system/multi-user.target.wants/rpm-gateway.service ] && ok || bad "enablement left after purge"
echo "package: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
