"""--prune auto's study, the Optuna side: where it is stored, how a worker joins it and pulls
trials, and the rows it holds. Optuna is imported only when a study is opened.

Why Optuna: storage many processes and machines share safely (SQLite, a journal file, or a
PostgreSQL/MySQL URL), an atomic queue of trials (enqueue_trial: each is popped by one worker),
heartbeats that fail a killed worker's trial and RetryHeartbeatStaleTrialCallback that queues it again,
multi-objective bookkeeping and pruned trials, all maintained upstream. Every candidate is
proposed by logic.propose from the results so far (a bisection per candidate kind on the 1/16
grid: after a miss a gentler candidate, after a hit a bolder one; a sampler would only revisit
the grid's 11 points), enqueued one at a time by whichever worker finds the queue empty; trials
still running split the interval, so parallel workers try different candidates. A resumed study
proposes from the same finished results, so it continues the same sequence.

The trial's objective values are (latency ms on the worker's runtime, int8 Dice, int8 bytes);
the runtime and machine that measured the latency are trial attributes. Extra latencies (a
`search-worker --role measure` on a device) are study attributes keyed by trial, runtime and
machine: a finished trial cannot be changed in Optuna."""
from __future__ import annotations

import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import UsageError
from .logic import KINDS, PROPOSAL_ORDER, Result, Row, propose

STUDY_NAME = "edgeseg-prune-auto"
DIRECTIONS = ("minimize", "maximize", "minimize")  # latency ms, int8 Dice, int8 bytes
JOURNAL_SUFFIXES = (".journal", ".jsonl", ".log")
URL_SCHEMES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")
IDENTITY = "edgeseg"  # the study attribute naming the model, data, settings and seed it is for
RUN = "edgeseg_run"  # study attribute: what a joining worker needs (model and data paths, config, input shape)
MEASURED = "latency"  # study attribute prefix of latencies measured by --role measure workers
HEARTBEAT_S, RETRIES = 10, 2
SCHEMA_TRIES = 5


def check_location(location: str) -> None:
    """One line for a --study that names no storage edgeseg can open (before anything runs)."""
    if "://" in location:
        scheme = location.split("://", 1)[0].split("+", 1)[0]
        if scheme not in URL_SCHEMES:
            raise UsageError(f"--study takes a file path or a database URL ({', '.join(URL_SCHEMES)}), "
                             f"got {location!r}")
    elif Path(location).is_dir():
        raise UsageError(f"--study {location} is a folder; give a file (study.sqlite3, or x.journal) or a URL")


def default_location(out: Path) -> Path:
    """OUT.study/study.sqlite3: beside OUT, not inside it, because compress builds OUT in a
    temporary folder that is thrown away when a run is killed, and the study must outlive that."""
    return out.with_name(out.name + ".study") / "study.sqlite3"


def check_study(location: str | None, out: Path, inputs) -> str:
    """The study's location (given or the default), refused when it is, holds or lies inside an
    input, or lies inside OUT (which a finished run replaces). Returns it."""
    from ..safety import overlap, refuse_overlap

    location = str(location or default_location(out))
    check_location(location)
    if "://" not in location:
        claimed = Path(location).parent if Path(location) == default_location(out) else Path(location)
        refuse_overlap(claimed, inputs, "--study")
        if overlap(claimed, out) in ("is", "lies inside"):
            raise UsageError(f"--study {location} lies inside --out {out}, which a finished run replaces; "
                             "keep the study beside it")
    return location


def cache_for(location: str, out: Path) -> Path:
    """Where fine-tuned candidates are cached: beside a study file, or beside OUT for a database URL."""
    return (Path(location).parent if "://" not in location else default_location(out).parent) / "cache"


def storage_for(location: str, heartbeat_s: int = HEARTBEAT_S, grace_s: int | None = None):
    """A database URL or a .sqlite3 path: RDBStorage with heartbeats, a killed worker's trial
    retried; a .journal/.jsonl/.log path: a journal file (no heartbeat in Optuna's journal
    storage, so a killed worker's trial stays RUNNING there)."""
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats are "experimental"
    check_location(location)
    if "://" not in location and location.endswith(JOURNAL_SUFFIXES):
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(location))
    if "://" not in location:
        Path(location).parent.mkdir(parents=True, exist_ok=True)
        location = f"sqlite:///{Path(location).resolve()}"
    engine = {"connect_args": {"timeout": 60}} if location.startswith("sqlite") else {}
    for attempt in range(SCHEMA_TRIES):
        try:
            storage = RDBStorage(location, engine_kwargs=engine, heartbeat_interval=heartbeat_s,
                                 grace_period=grace_s or 3 * heartbeat_s,
                                 heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=RETRIES))
            return serialize_sqlite(storage) if location.startswith("sqlite") else storage
        except Exception as e:  # a bad URL, a missing driver, an unreachable server
            if "already exists" in str(e) and attempt + 1 < SCHEMA_TRIES:
                time.sleep(0.5)  # two workers created the tables at once: the other one's are there now
                continue
            raise UsageError(f"--study {location}: cannot open it ({type(e).__name__}: {str(e).splitlines()[0]})")


def serialize_sqlite(storage):
    """Every SQLite transaction begins IMMEDIATE (takes the write lock at once). Optuna pops a
    queued trial with SELECT ... FOR UPDATE, a no-op on SQLite, and pysqlite starts no
    transaction before a SELECT: two workers could both read the trial as WAITING and both run
    it (seen: 1 in 10 runs of the two-worker test). SQLAlchemy's recipe for serializable SQLite."""
    from sqlalchemy import event

    @event.listens_for(storage.engine, "connect")
    def _no_implicit_transactions(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # SQLAlchemy's BEGIN below is the only one

    @event.listens_for(storage.engine, "begin")
    def _begin_immediate(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    storage.engine.dispose()  # connections made before the hooks would keep pysqlite's own BEGIN
    return storage


def open_study(location: str, identity: dict, ratios: list[float], heartbeat_s: int = HEARTBEAT_S,
               grace_s: int | None = None):
    """Creates the study (queueing `ratios`) or resumes it. A study made for another model,
    data, settings or seed is refused: its trials would not be this run's candidates."""
    import optuna

    study = optuna.create_study(storage=storage_for(location, heartbeat_s, grace_s), study_name=STUDY_NAME,
                                directions=list(DIRECTIONS), load_if_exists=True)
    held = study.user_attrs.get(IDENTITY)
    if held is None:
        study.set_user_attr(IDENTITY, identity)
    elif changed := sorted(k for k in identity if k != "cache" and held.get(k) != identity[k]):
        raise UsageError(f"--study {location} holds a search for another {', '.join(changed)}; "
                         "give another --study (or remove that one)")
    for ratio in ratios:
        study.enqueue_trial({"ratio": ratio}, skip_if_exists=True)
    return study


def join_study(location: str, heartbeat_s: int = HEARTBEAT_S, grace_s: int | None = None):
    """An existing study, for search-worker; one line when there is none yet."""
    import optuna

    storage = storage_for(location, heartbeat_s, grace_s)
    try:
        return optuna.load_study(study_name=STUDY_NAME, storage=storage)
    except KeyError:
        raise UsageError(f"--study {location} holds no --prune auto study yet; start it with "
                         f"`edgeseg compress MODEL --prune auto --study {location}`") from None


def _count(study, *states) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def _fail_stale(study, log: Callable[[str], None] = print) -> None:
    """Marks trials whose worker stopped beating as failed (the retry callback queues them again),
    one line each: a worker killed or crashed natively (an abort in TensorFlow) ends no run."""
    import optuna
    from optuna.storages._heartbeat import is_heartbeat_enabled
    from optuna.trial import TrialState

    if not is_heartbeat_enabled(study._storage):
        return
    running = {t.number: t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    optuna.storages.fail_stale_trials(study)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if trial.number in running:
            ratio = trial.params.get("ratio", running[trial.number].params.get("ratio"))
            log(f"      trial {trial.number} (ratio {ratio:.3f}) failed: its worker stopped (killed, or crashed "
                f"natively); queued again")


@dataclass
class Outcome:
    latency_ms: float
    dice: float
    bytes: int
    runtime: str
    machine: str
    attrs: dict  # cache key, float Dice, artifact path and sha256, seconds, reused from the cache or not


def work(study, evaluate: Callable[[float, object], Outcome], seconds: float, wait_for_others: bool = False,
         poll_s: float = 1.0, log: Callable[[str], None] = print, clock: Callable[[], float] = time.monotonic,
         proposer: Callable[[object], dict | None] | None = None) -> int:
    """Pulls queued trials until none is left or `seconds` have passed, then, with `wait_for_others`, waits for trials other workers still run. With a
    `proposer` (see `proposer`), an empty queue gets the next candidate it proposes from the
    study's results so far. `evaluate` gets the ratio and the Optuna trial (kind_of(trial.params)
    says the candidate's kind) and raises optuna.TrialPruned for a hopeless candidate (Optuna's
    trial.report/should_prune do not support several objectives, so the rule is explicit).
    `seconds` is the study's budget, the latency table and every trial's fine-tuning included: no
    trial is started that this worker's trials so far (their mean wall time) say would end after
    it; the first one always starts. Returns the number of trials this worker finished."""
    import optuna
    from optuna.storages._heartbeat import is_heartbeat_enabled
    from optuna.trial import TrialState

    done, spent = [0], []  # spent: wall seconds of this worker's trials that ran (hopeless and failed ones too)

    def objective(trial):
        if "fixed_params" not in trial.storage.get_trial_system_attrs(trial._trial_id):  # the queue ran dry
            trial.set_user_attr("queue_empty", True)
            trial.study.stop()
            raise optuna.TrialPruned("no queued candidate left")
        # the heartbeat thread's first beat can come after a worker that dies at once (an abort
        # under load): with no beat the trial would read as alive forever, so beat here first
        if is_heartbeat_enabled(trial.storage):
            trial.storage.record_heartbeat(trial._trial_id)
        ratio = trial.suggest_float("ratio", 0.0, 1.0)
        if "kind" in trial.storage.get_trial_system_attrs(trial._trial_id)["fixed_params"]:
            trial.suggest_categorical("kind", KINDS)
        first = _duplicate_of(trial.study, trial)
        if first is not None:  # queued twice (two workers created the study at once): run it once
            trial.set_user_attr("duplicate_of", first)
            raise optuna.TrialPruned(f"trial {first} runs this candidate")
        started = clock()
        try:
            outcome = evaluate(ratio, trial)
        except RuntimeError as exc:  # one line here; Optuna's own report (a full traceback) is silenced
            log(f"      trial {trial.number} (ratio {ratio:.3f}) failed: {' '.join(str(exc).split()) or type(exc).__name__}")
            trial.set_user_attr("failed_because", " ".join(str(exc).split())[:500])
            raise
        finally:  # a candidate found hopeless after its fine-tuning (TrialPruned) took its time too
            spent.append(clock() - started)
        for key, value in {"runtime": outcome.runtime, "machine": outcome.machine, **outcome.attrs}.items():
            trial.set_user_attr(key, value)
        done[0] += 1
        return outcome.latency_ms, outcome.dice, outcome.bytes

    def stop_when_empty(study, _trial) -> None:
        if _count(study, TrialState.WAITING) == 0:
            study.stop()

    deadline, said, told = clock() + seconds, None, False

    def start_by() -> float:  # the last moment a trial may start and still end within the budget
        return deadline - (sum(spent) / len(spent) if spent else 0.0)

    while True:
        _fail_stale(study, log)
        if proposer is not None and not _count(study, TrialState.WAITING) and clock() < start_by():
            params = proposer(study)
            if params is not None:
                study.enqueue_trial(params, skip_if_exists=True)
        if _count(study, TrialState.WAITING) and clock() < start_by():
            # a candidate its runtime cannot run (RuntimeError) is a failed trial, not a dead worker
            with _optuna_errors_only():
                study.optimize(objective, timeout=max(start_by() - clock(), 1e-3), callbacks=[stop_when_empty],
                               gc_after_trial=True, catch=(RuntimeError,))
            continue
        if spent and start_by() <= clock() < deadline and not told and (
                _count(study, TrialState.WAITING) or (proposer is not None and proposer(study) is not None)):
            log(f"      no further candidate: one takes about {deadline - start_by():.0f} s and {deadline - clock():.0f} s "
                f"of the {seconds:.0f} s search budget are left")
            told = True
        if not (wait_for_others and _count(study, TrialState.RUNNING)) or clock() > deadline + 3 * HEARTBEAT_S:
            return done[0]
        running = _count(study, TrialState.RUNNING)
        if running != said:  # said once per change, not once per poll
            log(f"      waiting for {running} trial(s) other workers run")
            said = running
        time.sleep(poll_s)


@contextmanager
def _optuna_errors_only():
    """Optuna logs every failed trial as a warning with its full traceback; edgeseg says it in
    one line itself (in `work`'s objective), so Optuna's warnings are off while trials run."""
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def resumable(study, cache: Path) -> int:
    """How many finished candidates a rerun would reuse: completed trials, or cached candidates."""
    from optuna.trial import TrialState

    cached = sum(1 for _ in cache.glob("*/candidate.json")) if cache.is_dir() else 0
    return max(cached, _count(study, TrialState.COMPLETE) if study is not None else 0)


def _is_candidate(trial) -> bool:
    return "ratio" in trial.params and not trial.user_attrs.get("queue_empty") and "duplicate_of" not in trial.user_attrs


def kind_of(params: dict) -> str:
    """A candidate's kind (trials without one are uniform ratios, as every trial once was)."""
    return params.get("kind", KINDS[0])


def _candidate_of(trial) -> tuple[str, float | None]:
    params = trial.params or trial.system_attrs.get("fixed_params", {})
    return kind_of(params), params.get("ratio")


def results(study) -> list[Result]:
    """Every candidate tried or being tried, once, for logic.propose: finished ones with the
    budget's verdict (a stopped or failed one is a miss), queued or running ones pending."""
    from optuna.trial import TrialState

    verdicts: dict[tuple[str, float], Result] = {}
    rank = {TrialState.COMPLETE: 0, TrialState.RUNNING: 1, TrialState.WAITING: 1, TrialState.PRUNED: 2,
            TrialState.FAIL: 3}  # a retried trial's finished copy decides, then a pending one
    trials = [t for t in study.get_trials(deepcopy=False) if t.state in rank and not t.user_attrs.get("queue_empty")
              and "duplicate_of" not in t.user_attrs and _candidate_of(t)[1] is not None]
    for t in sorted(trials, key=lambda t: rank[t.state], reverse=True):
        kind, ratio = _candidate_of(t)
        hit = {TrialState.COMPLETE: bool(t.user_attrs.get("deployable", True)), TrialState.RUNNING: None,
               TrialState.WAITING: None}.get(t.state, False)
        verdicts[(kind, ratio)] = Result(kind, ratio, hit, bool(t.user_attrs.get("ceiling")),
                                         bool(t.user_attrs.get("empty")))
    return list(verdicts.values())


def proposer(limit: int, kinds: tuple[str, ...] = PROPOSAL_ORDER, points: dict | None = None) -> Callable[[object], dict | None]:
    """work()'s proposer: the next candidate as Optuna params, up to `limit` (`points`: see logic.propose)."""

    def next_params(study) -> dict | None:
        chosen = propose(results(study), limit, kinds, points)
        if chosen is None:
            return None
        kind, ratio = chosen
        return {"ratio": ratio} if kind == KINDS[0] else {"ratio": ratio, "kind": kind}

    return next_params


def _duplicate_of(study, trial) -> int | None:
    """Another trial of the same candidate that owns it: a finished one, or a running one that
    started first (ties by number). Every worker sees the same order, so exactly one of several
    concurrent copies runs; a killed owner's retry is a new queued trial and runs later."""
    from optuna.trial import TrialState

    mine = study._storage.get_trial(trial._trial_id)
    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
        same = _candidate_of(other) == _candidate_of(mine)
        if other.number == trial.number or not same or "duplicate_of" in other.user_attrs:
            continue
        if other.state == TrialState.COMPLETE or (other.datetime_start, other.number) < (mine.datetime_start,
                                                                                           mine.number):
            return other.number
    return None


def rows(study) -> list[Row]:
    """Every finished candidate, once per runtime and machine that timed it."""
    from optuna.trial import TrialState

    found = []
    finished = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)) if _is_candidate(t)]
    extra = study.user_attrs
    for t in finished:
        latency, dice, size = t.values
        kind = kind_of(t.params)
        found.append(Row(t.number, t.params["ratio"], dice, int(size), latency, t.user_attrs["runtime"],
                         t.user_attrs["machine"], kind))
        for key, value in extra.items():
            if key.startswith(f"{MEASURED}|{t.number}|"):
                _, _, runtime, machine = key.split("|", 3)
                found.append(Row(t.number, t.params["ratio"], dice, int(size), value, runtime, machine, kind))
    return found


def record_latency(study, trial_number: int, runtime: str, machine: str, latency_ms: float) -> None:
    """A latency measured by a --role measure worker, kept apart from the trial's own."""
    study.set_user_attr(f"{MEASURED}|{trial_number}|{runtime}|{machine}", round(latency_ms, 4))


def pruned(study) -> list[dict]:
    """Candidates stopped early, with the float Dice that stopped them."""
    from optuna.trial import TrialState

    return [{"trial": t.number, "ratio": t.params["ratio"], "kind": kind_of(t.params),
             "float_dice": t.user_attrs.get("float_dice"), "reason": t.user_attrs.get("stopped_because")}
            for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)) if _is_candidate(t)]


def trial_attrs(study) -> dict[int, dict]:
    """Trial number -> its attributes (cache key, artifact, float Dice ...), for the report."""
    from optuna.trial import TrialState

    return {t.number: dict(t.user_attrs) for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}


__all__ = ["Outcome", "cache_for", "check_location", "check_study", "default_location", "join_study", "kind_of",
           "open_study", "proposer", "pruned", "record_latency", "results", "rows", "storage_for", "trial_attrs", "work"]
