"""Fetch the development set from Debian into a cache outside the repository.

For each package the set needs: `apt-get download PKG` (no root needed), then
`dpkg -x` into a scratch folder, then each source is converted to 16 kHz mono
int16 WAV with the project's own loader (soundfile/libsndfile reads WAV and
Ogg Vorbis; scipy resamples).  OpenClonk's rain sits inside `Sound.ocg`, a
c4group archive; OpenClonk's own `c4group` tool (Debian package `openclonk`,
extracted the same way, nothing installed) explodes it.  The scratch folder
and the .deb files are removed afterwards; the cache keeps the WAVs, each
package's copyright file and a manifest with the package versions.

The cache is `$CROWDPULSE_RECORDINGS`, else `$XDG_CACHE_HOME/crowdpulse/recordings`,
else `~/.cache/crowdpulse/recordings`.  Fetching is incremental and safe to run
from several processes at once (a lock file).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile

from crowdpulse.audio import RATE, AudioError, load
from crowdpulse.sim.recordings import catalog

ENV = catalog.CACHE_ENV
Say = Callable[[str], None]


class FetchError(RuntimeError):
    """The set could not be fetched or converted; the message is one line."""


def cache_dir(override: str | Path | None = None) -> Path:
    if override:
        return Path(override).expanduser()
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "crowdpulse" / "recordings"


def wav_path(cache: Path, name: str) -> Path:
    return cache / "wav" / f"{name}.wav"


def missing(cache: Path) -> list[catalog.Source]:
    return [s for s in catalog.SOURCES if not wav_path(cache, s.name).exists()]


def read(cache: Path, name: str) -> npt.NDArray[np.int16]:
    """One converted source, 16 kHz mono int16."""
    path = wav_path(cache, name)
    try:
        data, rate = soundfile.read(str(path), dtype="int16")
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise FetchError(f"{path}: unreadable ({exc}); delete it and fetch again") from None
    if rate != RATE or data.ndim != 1:
        raise FetchError(f"{path}: not 16 kHz mono; delete it and fetch again")
    return np.asarray(data, np.int16)


def manifest(cache: Path) -> dict[str, dict[str, dict[str, object]]]:
    path = cache / "manifest.json"
    if not path.exists():
        return {"packages": {}, "sources": {}}
    loaded: dict[str, dict[str, dict[str, object]]] = json.loads(path.read_text())
    return loaded


def ensure(cache: Path, say: Say | None = None) -> Path:
    """Fetch and convert whatever the cache lacks; return the cache folder."""
    tell = say or (lambda _msg: None)
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache):
        todo = missing(cache)
        if not todo:
            return cache
        meta = manifest(cache)
        with tempfile.TemporaryDirectory(prefix="fetch-", dir=cache) as scratch:
            work = Path(scratch)
            for pkg in catalog.packages_for(todo):
                tell(f"fetching {pkg} (apt-get download, dpkg -x)")
                root, version = _unpack(pkg, work)
                _keep_copyright(root, pkg, cache)
                meta["packages"][pkg] = {
                    "version": version,
                    "licence": catalog.PACKAGES[pkg].licence,
                }
                for src in (s for s in todo if s.package == pkg):
                    audio = _convert(src, root, work, tell)
                    _write_wav(wav_path(cache, src.name), audio)
                    meta["sources"][src.name] = {
                        "package": pkg,
                        "kind": src.kind,
                        "paths": list(src.paths),
                        "member": src.member,
                        "seconds": round(len(audio) / RATE, 2),
                    }
                shutil.rmtree(root)
        (cache / "manifest.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    return cache


@contextmanager
def _locked(cache: Path) -> Iterator[None]:
    with open(cache / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, check=False, timeout=1800
        )
    except FileNotFoundError:
        raise FetchError(
            f"{args[0]} not found: the development set needs Debian's apt and dpkg"
        ) from None
    except subprocess.TimeoutExpired:
        raise FetchError(f"{' '.join(args)} took more than 30 minutes") from None


def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("E:")]
    return (errors or lines or ["no output"])[-1].strip()


def _download(pkg: str, dest: Path) -> Path:
    """`apt-get download PKG` into dest; once `apt-get update` when apt has no lists (root only)."""
    proc = _run(["apt-get", "download", pkg], cwd=dest)
    if proc.returncode != 0 and os.geteuid() == 0:
        _run(["apt-get", "update", "-qq"])
        proc = _run(["apt-get", "download", pkg], cwd=dest)
    if proc.returncode != 0:
        hint = "" if os.geteuid() == 0 else " (try `sudo apt-get update` first)"
        raise FetchError(f"apt-get download {pkg} failed: {_last_line(proc)}{hint}")
    debs = sorted(dest.glob(f"{pkg}_*.deb"))
    if not debs:
        raise FetchError(f"apt-get download {pkg} left no {pkg}_*.deb in {dest}")
    return debs[-1]


def _unpack(pkg: str, work: Path) -> tuple[Path, str]:
    """The package's files under a fresh folder (dpkg -x), and its version."""
    deb = _download(pkg, work)
    version = _run(["dpkg-deb", "-f", str(deb), "Version"]).stdout.strip()
    root = work / pkg
    root.mkdir()
    proc = _run(["dpkg", "-x", str(deb), str(root)])
    deb.unlink()
    if proc.returncode != 0:
        raise FetchError(f"dpkg -x {deb.name} failed: {_last_line(proc)}")
    return root, version


def _keep_copyright(root: Path, pkg: str, cache: Path) -> None:
    src = root / "usr/share/doc" / pkg / "copyright"
    if not src.exists():
        raise FetchError(f"{pkg} ships no /usr/share/doc/{pkg}/copyright: cannot name its licence")
    (cache / "licences").mkdir(exist_ok=True)
    shutil.copyfile(src, cache / "licences" / f"{pkg}.copyright")


def _convert(src: catalog.Source, root: Path, work: Path, tell: Say) -> npt.NDArray[np.int16]:
    """The source as 16 kHz mono int16: its files (or archive member) summed."""
    files = [root / p for p in src.paths]
    if src.member:
        files = [_c4group_member(files[0], src.member, work, tell)]
    total: npt.NDArray[np.int32] | None = None
    for f in files:
        if not f.exists():
            raise FetchError(
                f"{src.package} has no {f.relative_to(root)}; the catalog needs updating"
            )
        try:
            pcm = load(f).samples.astype(np.int32)
        except AudioError as exc:
            raise FetchError(str(exc)) from None
        if total is None:
            total = pcm
        else:
            n = max(len(total), len(pcm))
            total = np.pad(total, (0, n - len(total))) + np.pad(pcm, (0, n - len(pcm)))
    assert total is not None
    return np.clip(total, -32768, 32767).astype(np.int16)


def _c4group_member(archive: Path, member: str, work: Path, tell: Say) -> Path:
    """A file inside a c4group archive, exploded by OpenClonk's own c4group tool.

    A c4group file is a gzip stream whose magic bytes are 1E 8C instead of
    1F 8B; inside, a 204-byte header scrambled byte-wise, a table of 316-byte
    entries, then the entries' contents, nested groups included (OpenClonk
    src/c4group/C4Group.cpp).  `c4group FILE -x` explodes it in place, recursively.
    """
    tool = _c4group_tool(work, tell)
    copy = work / f"c4group-{archive.name}"
    if not copy.exists():
        shutil.copyfile(archive, copy)
        proc = _run([str(tool), str(copy), "-x"])
        if proc.returncode != 0 or not copy.is_dir():
            raise FetchError(f"c4group could not explode {archive.name}: {_last_line(proc)}")
    found = copy / member
    if not found.is_file():
        raise FetchError(f"{archive.name} has no member {member}")
    return found


def _c4group_tool(work: Path, tell: Say) -> Path:
    installed = shutil.which("c4group")
    if installed:
        return Path(installed)
    tool = work / catalog.C4GROUP_PACKAGE / "usr/bin/c4group"
    if not tool.exists():
        tell(f"fetching {catalog.C4GROUP_PACKAGE} for its c4group tool (apt-get download, dpkg -x)")
        _unpack(catalog.C4GROUP_PACKAGE, work)
    if not tool.exists():
        raise FetchError(f"Debian package {catalog.C4GROUP_PACKAGE} ships no usr/bin/c4group")
    return tool


def _write_wav(path: Path, audio: npt.NDArray[np.int16]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    soundfile.write(str(tmp), audio, RATE, subtype="PCM_16", format="WAV")
    tmp.replace(path)


def digest(cache: Path) -> str:
    """A short hash of every converted source: nights record what they were mixed from."""
    h = hashlib.sha256()
    for s in catalog.SOURCES:
        h.update(wav_path(cache, s.name).read_bytes())
    return h.hexdigest()[:16]
