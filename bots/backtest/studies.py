"""The Optuna study an optimisation shares: where it is stored, how it samples and prunes.

**Storage.** An SQLAlchemy URL: `sqlite:///<path>` (embedded, nothing to install: the default
is `study.db` in `--out`) or `postgresql://user:password@host:5432/db` (psycopg 3; `postgres://`
and `postgresql+psycopg://` are the same). Anything else is refused at load, and so is a password
holding an unescaped `@` (which would be read as part of the host). The URL comes from
`--storage`, else `$OTCMM_STUDY_STORAGE` (how a Kubernetes Secret reaches a worker: never argv,
which `ps` shows), else the scenario's `[optimize] storage`, else the default. Passwords are
masked wherever a URL is shown (`masked`: the userinfo's and a query's `password=`), and in
the drivers' error lines (`scrubbed`). Workers on one storage and study name share one study.

**Sampling.** Optuna's `TPESampler` (Bergstra et al. 2011), seeded, multivariate, with the
constant liar (running trials count as already bad, so parallel workers spread out) after
`startup_trials` random ones. Each worker seeds its sampler from the study seed, its worker id
and the number of trials the study already holds, so workers never draw the same random trials
and a rerun of one worker on one storage reproduces its trials.

**Pruning.** `MedianPruner`: after `startup_trials` finished trials and `warmup_steps` steps, a
trial whose intermediate objective is worse than the median of the others at the same step
stops there (state PRUNED).

**Identity.** A study remembers the scenario it was made for (a SHA-256 of the scenario after
`--set`, without storage and study name): a worker with another scenario is refused, so trials
of different setups never mix.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import optuna
from optuna.exceptions import ExperimentalWarning
from optuna.pruners import BasePruner, MedianPruner, NopPruner
from optuna.samplers import TPESampler
from optuna.storages import RDBStorage
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from bots.backtest.optspec import OptimizeSpec
from bots.backtest.outdir import STUDY_FILE
from bots.errors import ConfigError, OtcmmError

STORAGE_ENV = "OTCMM_STUDY_STORAGE"
DEFAULT_DB = STUDY_FILE
IDENTITY_ATTR = "otcmm:scenario_sha256"
HEARTBEAT_S = 30  # a worker's running trial beats this often ...
GRACE_S = 120  # ... and is marked FAIL when it has not for this long (a worker that died)
SQLITE_LOCK_WAIT_S = 120
SCHEMA_RACE_RETRIES = 5


class StudyStorageError(OtcmmError):
    """The study's storage cannot be reached or used (exit 5). Never shows a password."""

    exit_code = 5


def resolve_storage(flag: str | None, spec: OptimizeSpec, out: Path) -> str:
    """The storage URL in force (see the module docstring), normalised for psycopg 3.

    Raises `ConfigError` for a URL that is malformed or not SQLite/PostgreSQL."""
    chosen = flag or os.environ.get(STORAGE_ENV) or spec.storage
    if not chosen:
        return f"sqlite:///{(out / DEFAULT_DB).resolve()}"
    return normalise_url(chosen)


def normalise_url(url: str) -> str:
    """`url` with PostgreSQL spelled for psycopg 3; `ConfigError` if it is not usable."""
    rest = url.partition("://")[2]
    if rest.split("/", 1)[0].count("@") > 1:
        raise ConfigError(
            f"study storage {masked(url)}: the password holds an '@': write it as %40 "
            "(percent-encode the password)"
        )
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(
            "study storage: not a database URL (sqlite:///path or postgresql://...)"
        ) from None
    driver = parsed.drivername
    if driver in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if driver == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise ConfigError("study storage: sqlite needs a file: sqlite:///path/study.db")
        return url
    raise ConfigError(
        f"study storage: {driver} is not supported; use sqlite:///path or postgresql://..."
    )


def masked(url: str) -> str:
    """`url` for display: the password of its userinfo and any `password=` of its query
    replaced by ***. Plain text work, no URL parser: everything before the last `@` is the
    userinfo, so a password holding an unescaped `@` is masked whole too."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "(unparsable URL)"
    rest = _QUERY_PASSWORD.sub(r"\1***", rest)
    at = rest.rfind("@")
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        rest = f"{user}{':***' if colon else ''}@{rest[at + 1 :]}"
    return f"{scheme}://{rest}"


_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&#]*")


def scrubbed(text: str, url: str) -> str:
    """`text` (a driver's error line) with every password of `url` replaced by ***."""
    secrets = [m.group(0).partition("=")[2] for m in _QUERY_PASSWORD.finditer(url)]
    try:
        secrets.append(make_url(url).password or "")
    except (ArgumentError, ValueError):
        pass
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return text


def _storage_error(url: str, exc: BaseException) -> StudyStorageError:
    return StudyStorageError(f"study storage {masked(url)}: {scrubbed(first_line(exc), url)}")


def storage_for(url: str) -> RDBStorage:
    """An `RDBStorage` with heartbeats (a dead worker's trial turns FAIL after `GRACE_S`).

    Raises `StudyStorageError` when the database cannot be reached or set up."""
    engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": SQLITE_LOCK_WAIT_S}
        try:
            _sqlite_path(url).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StudyStorageError(
                f"study storage {masked(url)}: cannot create its folder: "
                f"{exc.strerror or type(exc).__name__}"
            ) from None
    for attempt in range(SCHEMA_RACE_RETRIES + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeats
                return RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                )
        except SQLAlchemyError as exc:
            # Workers starting together on a new database race to create its tables; the
            # loser finds them made on its next attempt.
            if not _schema_race(exc):
                raise _storage_error(url, exc) from None
            if attempt == SCHEMA_RACE_RETRIES:
                raise StudyStorageError(
                    f"study storage {masked(url)}: its tables could not be created"
                ) from None
            time.sleep(0.2 * (attempt + 1) + random.random() * 0.3)  # noqa: S311 - jitter
        except (optuna.exceptions.StorageInternalError, OSError) as exc:
            raise _storage_error(url, exc) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or DEFAULT_DB)


def _schema_race(exc: SQLAlchemyError) -> bool:
    """A concurrent CREATE TABLE lost (SQLite: "already exists"; PostgreSQL: a duplicate)."""
    text = str(exc).lower()
    return isinstance(exc, IntegrityError) or "already exists" in text or "duplicate" in text


def first_line(exc: BaseException) -> str:
    """The driver's own first line of an error (SQLAlchemy wraps it in several)."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip().splitlines()
    return text[0] if text else type(inner).__name__


def scenario_identity(raw: Mapping[str, Any]) -> str:
    """SHA-256 of the scenario as run (after `--set`), without where its study is stored."""
    data = json.loads(json.dumps(raw, sort_keys=True, default=str))
    optimize = dict(data.get("optimize") or {})
    for key in ("storage", "study", "trials"):
        optimize.pop(key, None)
    data["optimize"] = optimize
    data.pop("sweep", None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def worker_seed(study_seed: int, worker: str, existing_trials: int) -> int:
    """The sampler seed of one worker (see the module docstring)."""
    text = f"otcmm-optimize:{study_seed}:{worker}:{existing_trials}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def make_sampler(spec: OptimizeSpec, seed: int) -> TPESampler:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # multivariate, constant_liar
        return TPESampler(
            seed=seed,
            n_startup_trials=spec.startup_trials,
            multivariate=True,
            constant_liar=True,
        )


def make_pruner(spec: OptimizeSpec, every_steps: int) -> BasePruner:
    if spec.pruner == "none":
        return NopPruner()
    warmup = spec.warmup_steps if spec.warmup_steps is not None else 2 * every_steps
    return MedianPruner(n_startup_trials=spec.startup_trials, n_warmup_steps=warmup)


def open_study(
    url: str,
    name: str,
    spec: OptimizeSpec,
    identity: str,
    *,
    sampler: TPESampler | None = None,
    pruner: BasePruner | None = None,
    create: bool = True,
) -> optuna.Study:
    """Create or join study `name` at `url`; refuse one made for another scenario.

    With `create` false the study must exist (a report of it): `ConfigError` if it does not,
    and nothing is created in the storage (not even a SQLite file).
    Raises `StudyStorageError` (unreachable) or `ConfigError` (another scenario's study)."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # otcmm says why a trial failed, in a line
    missing = ConfigError(
        f"study {name!r} at {masked(url)}: no such study (check --study and the storage)"
    )
    if not create and url.startswith("sqlite") and not _sqlite_path(url).is_file():
        raise missing
    storage = storage_for(url)
    try:
        if not create and name not in {s.study_name for s in storage.get_all_studies()}:
            raise missing
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction=spec.direction,
            sampler=sampler,
            pruner=pruner,
            load_if_exists=True,
        )
        known = study.user_attrs.get(IDENTITY_ATTR)
        if known is None:
            study.set_user_attr(IDENTITY_ATTR, identity)
            known = identity
    except (SQLAlchemyError, optuna.exceptions.StorageInternalError) as exc:
        raise _storage_error(url, exc) from None
    if known != identity or study.direction.name.lower() != spec.direction:
        raise ConfigError(
            f"study {name!r} at {masked(url)} was made for another scenario or [optimize] "
            "table; choose another --study name (or storage) for this one"
        )
    return study
