#!/usr/bin/env python3
"""Writes an SPDX 2.3 JSON SBOM of the Debian packages a .deb depends on.

The dependency list is the one the .deb gets: the fixed Depends plus what
dpkg-shlibdeps computes from the ELF files in the staging tree (the same
call CPackDeb makes). Each package's installed version and architecture come
from dpkg-query on the build machine, i.e. the versions the binary was
linked against. SOURCE_DATE_EPOCH, if set, fixes the creation time.
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse


def elf_files(root):
    out = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            if os.path.islink(p) or not os.path.isfile(p):
                continue
            with open(p, "rb") as fh:
                if fh.read(4) == b"\x7fELF":
                    out.append(p)
    return sorted(out)


def shlibdeps(files):
    if not files:
        return ""
    with tempfile.TemporaryDirectory() as work:
        os.makedirs(os.path.join(work, "debian"))
        open(os.path.join(work, "debian", "control"), "w").close()
        r = subprocess.run(["dpkg-shlibdeps", "--ignore-missing-info", "-O"] + files, cwd=work,
                           capture_output=True, text=True, env=dict(os.environ, LC_ALL="C"))
    if r.returncode != 0:
        sys.exit("dpkg-shlibdeps failed: " + r.stderr.strip())
    m = re.search(r"shlibs:Depends=(.*)", r.stdout)
    return m.group(1).strip() if m else ""


def installed(name):
    """(version, architecture) of an installed package, or None."""
    r = subprocess.run(["dpkg-query", "-W", "-f", "${db:Status-Abbrev}\t${Version}\t${Architecture}", name],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None
    for line in r.stdout.splitlines():
        status, version, arch = (line.split("\t") + ["", "", ""])[:3]
        if status.startswith("ii"):
            return version, arch
    return None


def parse_depends(text):
    """[(alternatives [(name, constraint)], original entry)] of a Depends field."""
    entries = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        alts = []
        for alt in (a.strip() for a in entry.split("|")):
            m = re.match(r"([a-z0-9][a-z0-9+.\-]+)(?::[a-z0-9]+)?\s*(?:\((.*)\))?", alt)
            if not m:
                sys.exit("cannot parse dependency: " + alt)
            alts.append((m.group(1), (m.group(2) or "").strip()))
        entries.append((alts, entry))
    return entries


def spdx_id(name):
    return "SPDXRef-Package-deb-" + re.sub(r"[^A-Za-z0-9.\-]", "-", name)


def distro():
    try:
        with open("/etc/os-release") as fh:
            kv = dict(line.rstrip("\n").split("=", 1) for line in fh if "=" in line)
        return kv.get("ID", "debian").strip('"'), kv.get("VERSION_ID", "").strip('"')
    except OSError:
        return "debian", ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True, help="staging directory of the package")
    ap.add_argument("--name", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--depends", default="", help="the package's fixed Depends")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    auto = shlibdeps(elf_files(a.root))
    depends = ", ".join(d for d in (a.depends, auto) if d)
    distro_id, distro_version = distro()
    qualifier = {"distro": f"{distro_id}-{distro_version}"} if distro_version else {}

    packages, relationships, seen = [], [], set()
    root_id = "SPDXRef-Package-" + re.sub(r"[^A-Za-z0-9.\-]", "-", a.name)
    for alts, entry in parse_depends(depends):
        chosen = next(((n, c) for n, c in alts if installed(n)), alts[0])
        name, constraint = chosen
        if name in seen:
            continue
        seen.add(name)
        pkg = {
            "name": name,
            "SPDXID": spdx_id(name),
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "supplier": "Organization: Debian",
            "comment": f"Depends entry of {a.name}: {entry}",
        }
        info = installed(name)
        if info:
            version, arch = info
            pkg["versionInfo"] = version
            q = dict(qualifier, arch=arch)
            purl = (f"pkg:deb/{distro_id}/{name}@{urllib.parse.quote(version, safe='')}?"
                    + "&".join(f"{k}={v}" for k, v in sorted(q.items())))
            pkg["externalRefs"] = [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                                    "referenceLocator": purl}]
        packages.append(pkg)
        relationships.append({"spdxElementId": root_id, "relationshipType": "DEPENDS_ON",
                              "relatedSpdxElement": spdx_id(name)})

    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    created = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
               else datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = hashlib.sha256(f"{a.name} {a.version} {depends}".encode()).hexdigest()[:16]
    doc = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{a.name}-{a.version}-deb-dependencies",
        "documentNamespace": f"https://rpm-gateway.invalid/spdx/{a.name}-{a.version}-{digest}",
        "creationInfo": {"created": created, "creators": ["Tool: rpm-gateway systemd/sbom/make-sbom.py"],
                         "comment": "Debian packages the .deb depends on (fixed Depends + dpkg-shlibdeps), "
                                    "with the versions installed on the build machine."},
        "packages": [{
            "name": a.name,
            "SPDXID": root_id,
            "versionInfo": a.version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": "NOASSERTION",
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": "APPLICATION",
        }] + packages,
        "relationships": [{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES",
                           "relatedSpdxElement": root_id}] + relationships,
    }
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out, "w") as fh:
        json.dump(doc, fh, indent=2, sort_keys=False)
        fh.write("\n")
    os.chmod(a.out, 0o644)


if __name__ == "__main__":
    main()
