"""A git repository: ``{"url", "branch", "include", "exclude", "token"}`` — one document
per file of a supported type at the branch's tip, keyed by its path in the repository.

- ``url``: ``https://…``, ``ssh://…`` / ``user@host:path``, or a repository on the
  server (an absolute path or ``file://``; tenant admins only, below
  ``RAGDESK_FOLDER_ROOTS`` like folder assets). The host of an https or ssh URL must
  resolve to public addresses only (the SSRF guard of fetch.py); for https the
  checked address is pinned (``http.curloptResolve``) and redirects are not followed.
- ``branch``: empty → the remote's default branch (its HEAD).
- ``include`` / ``exclude``: gitignore-style patterns (pathspec): ``*.md`` matches at
  any depth, ``docs/**`` one folder. Empty include → every file.
- ``token`` (secret): sent as HTTP basic auth (``x-access-token``) to https remotes,
  through the environment, never on a command line or in the clone's config.

The clone is a cache, not state: ``RAGDESK_GIT_CACHE_DIR/<asset id>`` on the worker's
machine, a shallow (depth 1) bare repository fetched anew by each run and removed
when the asset is deleted. A worker without it clones again. A refresh compares each
file's blob id with the one its document stored: the same blob is unchanged without
being read (which is what a diff between the stored and the new commit would say,
and needs no history in a shallow clone)."""

from __future__ import annotations

import base64
import fcntl
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pathspec
from django.conf import settings

from assets_app.ingestion.parsing import content_type_for

from . import (
    ParameterError,
    ParameterForbidden,
    SourceError,
    SourceItem,
    stored_validators,
)
from .fetch import check_url, resolve_checked
from .folder import resolve_allowed_folder

POLL_SECONDS = 0.5  # how often a running git command lets ``check`` run
MAX_GIT_URL_CHARS = 2048  # as the dashboard's field allows; no column holds it


def _kind(url: str) -> str:
    """``"https"``, ``"ssh"`` or ``"local"``; ParameterError for anything else."""
    if url.startswith("https://"):
        return "https"
    if url.startswith("ssh://") or (
        "://" not in url and ":" in url.split("/")[0] and "@" in url.split(":")[0]
    ):
        return "ssh"
    if url.startswith("file://") or url.startswith("/"):
        return "local"
    raise ParameterError(
        "url",
        "Give an https://, ssh:// (or user@host:path) URL, or a repository "
        "path on the server.",
    )


def _local_path(url: str) -> Path:
    path = urlsplit(url).path if url.startswith("file://") else url
    return resolve_allowed_folder(path)


def _ssh_host(url: str) -> tuple[str, int]:
    if url.startswith("ssh://"):
        parts = urlsplit(url)
        try:
            port = parts.port or 22
        except ValueError as exc:  # not a number, or out of 0–65535
            raise ParameterError("url", f"Not a valid port: {exc}.") from exc
        return parts.hostname or "", port
    return url.split("@", 1)[1].split(":", 1)[0], 22


def check_parameters(parameters: dict, *, may_read_server: bool) -> dict:
    """The parameters completed with defaults. ``may_read_server``: the caller may
    name a repository on the server's disk (tenant admins). Raises ParameterError, or
    ParameterForbidden for a repository on the server without ``may_read_server``."""
    p = {"branch": "", "include": [], "exclude": [],
         **{k: v for k, v in parameters.items() if v is not None}}  # fmt: skip
    url = (p.get("url") or "").strip()
    p["url"] = url
    if len(url) > MAX_GIT_URL_CHARS:
        raise ParameterError(
            "url", f"At most {MAX_GIT_URL_CHARS} characters (this one has {len(url)})."
        )
    kind = _kind(url)
    try:
        if kind == "https":
            check_url(url, schemes=("https",))
        elif kind == "ssh":
            resolve_checked(*_ssh_host(url))
        elif not may_read_server:
            raise ParameterForbidden(
                "url", "Only tenant admins may read repositories on the server."
            )
        else:
            _local_path(url)
    except ParameterError:
        raise
    except SourceError as exc:
        raise ParameterError("url", str(exc)) from exc
    branch = p["branch"].strip()
    if (
        branch.startswith("-")
        or any(c in branch for c in " ~^:?*[\\")
        or ".." in branch
    ):
        raise ParameterError("branch", "Not a valid branch name.")
    p["branch"] = branch
    for name in ("include", "exclude"):
        try:
            pathspec.GitIgnoreSpec.from_lines(p[name])
        except (ValueError, TypeError) as exc:
            raise ParameterError(name, f"Not a valid pattern: {exc}") from exc
    return p


def clone_dir(asset_id) -> Path:
    return Path(settings.RAGDESK_GIT_CACHE_DIR) / str(asset_id)


def clone_remove(asset_id) -> None:
    """Remove this machine's clone of the asset (other machines drop theirs when they
    find the asset gone; a clone is only a cache)."""
    shutil.rmtree(clone_dir(asset_id), ignore_errors=True)
    Path(f"{clone_dir(asset_id)}.lock").unlink(missing_ok=True)


def _env(p: dict) -> dict:
    """The environment of git commands: no prompts, no system/user config surprises,
    only our protocols; for https the checked address pinned, no redirects, the
    token as a header."""
    config = [("http.followRedirects", "false"), ("protocol.allow", "never"),
              ("protocol.https.allow", "always"), ("protocol.ssh.allow", "always"),
              ("protocol.file.allow", "always"), ("http.lowSpeedLimit", "1000"),
              ("http.lowSpeedTime", str(int(settings.RAGDESK_FETCH_TIMEOUT_SECONDS))),
              ]  # fmt: skip
    url = p["url"]
    if url.startswith("https://"):
        parts = urlsplit(url)
        port = parts.port or 443
        ip = resolve_checked(parts.hostname or "", port)
        config.append(("http.curloptResolve", f"{parts.hostname}:{port}:{ip}"))
        if p.get("token"):
            basic = base64.b64encode(f"x-access-token:{p['token']}".encode()).decode()
            config.append(("http.extraHeader", f"Authorization: Basic {basic}"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="/bin/false",
               GIT_CONFIG_NOSYSTEM="1",
               GIT_SSH_COMMAND="ssh -o BatchMode=yes -o ConnectTimeout=20",
               GIT_CONFIG_COUNT=str(len(config)))  # fmt: skip
    for i, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
    return env


def _git(args: list[str], *, cwd: Path, env: dict, check: Callable[[], None],
         timeout: float) -> bytes:  # fmt: skip
    """``git args`` in ``cwd``; its stdout. ``check`` runs every POLL_SECONDS (a cancel
    it raises kills git). Raises SourceError with git's message, or on timeout (s)."""
    proc = subprocess.Popen(
        ["git", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    waited = 0.0
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=POLL_SECONDS)
                break
            except subprocess.TimeoutExpired:
                waited += POLL_SECONDS
                if waited > timeout:
                    raise SourceError(
                        f"git {args[0]} took longer than {timeout:.0f} s."
                    ) from None
                check()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    if proc.returncode != 0:
        message = err.decode("utf-8", "replace").strip().splitlines()
        raise SourceError(f"git {args[0]} failed: {' '.join(message[-3:])}")
    return out


def _sync(asset, p: dict, check) -> tuple[Path, str, dict]:
    """Fetch the branch tip into this machine's clone; ``(clone, commit, env)``."""
    directory = clone_dir(asset.id)
    directory.parent.mkdir(parents=True, exist_ok=True)
    env = _env(p)
    remote = _local_path(p["url"]).as_uri() if _kind(p["url"]) == "local" else p["url"]
    if not (directory / "HEAD").exists():
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir()
        _git(
            ["init", "--bare", "--quiet"],
            cwd=directory,
            env=env,
            check=check,
            timeout=30,
        )
    ref = f"refs/heads/{p['branch']}" if p["branch"] else "HEAD"
    _git(["fetch", "--depth=1", "--no-tags", "--quiet", remote, ref], cwd=directory,
         env=env, check=check,
         timeout=settings.RAGDESK_GIT_TIMEOUT_SECONDS)  # fmt: skip
    commit = _git(["rev-parse", "FETCH_HEAD^{commit}"], cwd=directory, env=env,
                  check=check, timeout=30).decode().strip()  # fmt: skip
    _git(["update-ref", "refs/heads/ragdesk", commit], cwd=directory, env=env,
         check=check, timeout=30)  # fmt: skip
    return directory, commit, env


def _reader(directory: Path, blob: str, size: int, env: dict) -> Callable[[], bytes]:
    def read() -> bytes:
        if size > settings.RAGDESK_GIT_MAX_FILE_BYTES:
            raise OSError(
                f"The file is larger than {settings.RAGDESK_GIT_MAX_FILE_BYTES} bytes."
            )
        try:
            return _git(["cat-file", "blob", blob], cwd=directory, env=env,
                        check=lambda: None, timeout=60)  # fmt: skip
        except SourceError as exc:
            raise OSError(str(exc)) from exc

    return read


def path_filter(parameters: dict) -> Callable[[str], bool]:
    """Whether a path of the repository is read, by the asset's ``include`` and
    ``exclude`` patterns (its type is checked apart: ``content_type_for``)."""
    include = pathspec.GitIgnoreSpec.from_lines(parameters.get("include") or ["*"])
    exclude = pathspec.GitIgnoreSpec.from_lines(parameters.get("exclude") or [])
    return lambda path: include.match_file(path) and not exclude.match_file(path)


def list_git_items(
    asset, *, force: bool, check: Callable[[], None]
) -> Iterator[SourceItem]:
    """The files of a git asset at its branch's tip (module docstring), by path.
    Raises SourceError when the repository cannot be fetched (with git's message)."""
    p = asset.source_parameters
    lock_path = f"{clone_dir(asset.id)}.lock"
    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one run per clone on this machine
        directory, commit, env = _sync(asset, p, check)
        tree = _git(["ls-tree", "-r", "-l", "-z", commit], cwd=directory, env=env,
                    check=check, timeout=120)  # fmt: skip
    selected = path_filter(p)
    stored = {} if force else stored_validators(asset)
    for entry in tree.split(b"\0"):
        if not entry:
            continue
        meta, path = entry.decode("utf-8", "replace").split("\t", 1)
        mode, kind, blob, size = meta.split()
        if kind != "blob" or mode == "120000":  # submodules and symlinks are skipped
            continue
        content_type = content_type_for(path)
        if content_type is None or not selected(path):
            continue
        yield SourceItem(
            key=path, file_name=path[-255:], content_type=content_type, size=int(size),
            source_url=path, read=_reader(directory, blob, int(size), env),
            validators={"blob": blob},
            not_modified=(stored.get(path) or {}).get("blob") == blob,
        )  # fmt: skip
