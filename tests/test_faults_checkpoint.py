"""Hostile checkpoints: every fault in a manifest's meta or in the weights is refused before
anything is built or printed, as one CheckpointError line naming the checkpoint.

The faults are resealed (the manifest's checksums recomputed), so each one reaches the check
meant for it rather than stopping at a checksum; unsealed edits are covered separately.
"""

import json
import shutil
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

from lmzero import checkpoint
from lmzero.checkpoint import CheckpointError
from lmzero.models.game_net import GameTokenizer
from lmzero.models.load import load_network
from lmzero.models.tinylm import TinyLM
from lmzero.models.tinylm_steps import load_step_model
from lmzero.tasks import countdown, game24
from lmzero.tasks.connect4 import ConnectFour
from tests.checkpoints import untrained_checkpoint

MANIFEST = "manifest.json"


# -- checkpoints and how to damage them --------------------------------------------------------

@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """{"text": a game24 text model, "game": a Connect Four network}, small and untrained."""
    root = tmp_path_factory.mktemp("pristine")
    torch.manual_seed(0)
    net = TinyLM(GameTokenizer(ConnectFour()).model_config(trunk="mlp", n_embd=16, n_layer=1,
                                                           mlp_width=32))
    game = checkpoint.save(root / "game", net.state_dict(),
                           dict(game="connect4", model=net.cfg.to_dict(), iteration=0))
    return {"text": untrained_checkpoint(root / "text", game24.TASK, 192), "game": game}


@pytest.fixture
def fresh(pristine, tmp_path):
    """A copy of a pristine checkpoint ("text" or "game") to damage."""
    def copy(which):
        return shutil.copytree(pristine[which], tmp_path / which)
    return copy


LOADERS = {"text": lambda path: load_step_model(path, task=game24.TASK),
           "game": lambda path: load_network(path, ConnectFour())}


def reseal(path, manifest):
    """Write `manifest` with every checksum recomputed (a forger's edit, or a buggy writer)."""
    manifest["files"] = {name: checkpoint.sha256(path / name) for name in manifest["files"]}
    if isinstance(manifest["meta"], dict) or "meta_sha256" in manifest:
        manifest["meta_sha256"] = checkpoint.meta_sha256(manifest["meta"])
    (path / MANIFEST).write_text(json.dumps(manifest))


def edit_meta(path, mutate, sealed=True):
    manifest = json.loads((path / MANIFEST).read_text())
    manifest["meta"] = mutate(manifest["meta"])
    if sealed:
        reseal(path, manifest)
    else:
        (path / MANIFEST).write_text(json.dumps(manifest))


def edit_weights(path, mutate):
    """Rewrite model.safetensors as `mutate(tensors)` and reseal the manifest."""
    tensors = mutate(load_file(str(path / "model.safetensors")))
    save_file(tensors, str(path / "model.safetensors"))
    reseal(path, json.loads((path / MANIFEST).read_text()))


def refused(which, path, expect):
    """The loader's CheckpointError: one line, naming the checkpoint and containing `expect`."""
    with pytest.raises(CheckpointError) as caught:
        LOADERS[which](path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message, message
    assert expect in message, message
    return message


def model_field(key, value):
    def mutate(meta):
        meta["model"][key] = value
        return meta
    return mutate


def without(key, inside_model=False):
    def mutate(meta):
        (meta["model"] if inside_model else meta).pop(key)
        return meta
    return mutate


def with_(**fields):
    return lambda meta: dict(meta, **fields)


# -- the meta -----------------------------------------------------------------------------------

BOTH = [  # (case, mutation, expected words); the same faults for a text and a game checkpoint
    ("meta list", lambda m: [m], "must be a JSON object, not list"),
    ("meta null", lambda m: None, "must be a JSON object, not NoneType"),
    ("meta string", lambda m: "game24", "must be a JSON object, not str"),
    ("no model", without("model"), "no model config"),
    ("model list", with_(model=[1, 2]), "no model config"),
    ("missing n_head", without("n_head", True), "lacks n_head"),
    ("missing vocab_size", without("vocab_size", True), "lacks vocab_size"),
    ("n_head 0", model_field("n_head", 0), "n_head must be in"),
    ("n_head not dividing", model_field("n_head", 3), "multiple of n_head"),
    ("negative vocab", model_field("vocab_size", -5), "vocab_size must be in"),
    ("huge n_layer", model_field("n_layer", 10_000_000), "n_layer must be in"),
    ("huge n_embd", model_field("n_embd", 200_000), "n_embd must be in"),
    ("huge int", model_field("block_size", 10**40), "block_size must be in"),
    ("huge in bounds", lambda m: dict(m, model=dict(m["model"], n_layer=64, n_embd=4096,
                                                    mlp_width=65536)), "parameters"),
    ("bool as int", model_field("n_layer", True), "n_layer must be an integer"),
    ("float size", model_field("n_embd", 32.0), "n_embd must be an integer"),
    ("string size", model_field("block_size", "192"), "block_size must be an integer"),
    ("null size", model_field("n_layer", None), "n_layer must be an integer"),
    ("bad trunk", model_field("trunk", "rnn"), "trunk must be"),
    ("trunk list", model_field("trunk", ["mlp"]), "trunk must be"),
    ("rope string", model_field("rope", "yes"), "rope must be"),
    ("dropout nan", model_field("dropout", float("nan")), "dropout must be"),
    ("unknown field", model_field("evil", 1), "unexpected keyword"),
]
TEXT = [
    ("block_size too small", model_field("block_size", 8), "too short for task 'game24'"),
    ("vocab_size off", model_field("vocab_size", 28), "the vocabulary has 27 tokens"),
    ("no vocab", without("vocab"), "bad vocabulary"),
    ("vocab not a list", with_(vocab=5), "bad vocabulary"),
    ("vocab of lists", lambda m: dict(m, vocab=[[c] for c in m["vocab"]]), "bad vocabulary"),
    ("vocab lacks a character", lambda m: dict(
        m, vocab=[c for c in m["vocab"] if c != "="],
        model=dict(m["model"], vocab_size=len(m["vocab"]) - 1)), "lacks '='"),
    ("mlp trunk", model_field("trunk", "mlp"), "transformer trunk"),
    ("odd rope head", lambda m: dict(m, model=dict(m["model"], rope=True, n_head=32)),
     "must be even"),
    ("wrong task", with_(task="countdown"), "trained on 'countdown', not 'game24'"),
    ("no task", without("task"), "a checkpoint that names no task, not"),
    ("task list", with_(task=["game24"]), "task must be a name"),
    ("task code reference", with_(task="os:getcwd"), "not 'game24'"),
    ("game kind", lambda m: {k: v for k, v in m.items() if k != "kind"}, "not a text-model"),
    ("hf kind", with_(kind="hf-trained"), "not a text-model"),
]
GAME = [
    ("block_size off", model_field("block_size", 8), "does not fit connect4"),
    ("vocab_size off", model_field("vocab_size", 99), "does not fit connect4"),
    ("wrong game", with_(game="tictactoe"), "trained on 'tictactoe', not 'connect4'"),
    ("no game", without("game"), "a checkpoint that names no game, not"),
    ("text kind", with_(kind="tinylm-text"), "not a game network"),
]
META_CASES = ([pytest.param("text", m, e, id=f"text-{c}") for c, m, e in BOTH + TEXT]
              + [pytest.param("game", m, e, id=f"game-{c}") for c, m, e in BOTH + GAME])


@pytest.mark.parametrize("which, mutate, expect", META_CASES)
def test_a_hostile_meta_is_refused_in_one_line(fresh, which, mutate, expect):
    path = fresh(which)
    edit_meta(path, mutate)
    refused(which, path, expect)


@pytest.mark.parametrize("which", ["text", "game"])
def test_an_edited_meta_fails_its_checksum(fresh, which):
    path = fresh(which)
    edit_meta(path, with_(iteration=7, task="countdown"), sealed=False)
    refused(which, path, "meta checksum mismatch")


def test_pristine_checkpoints_load(pristine):
    assert load_step_model(pristine["text"], task=game24.TASK).source == str(pristine["text"])
    assert load_network(pristine["game"], ConnectFour()).model.cfg.n_embd == 16


# -- the weights --------------------------------------------------------------------------------

def poison(value):
    def mutate(tensors):
        name = sorted(tensors)[0]
        tensors[name] = tensors[name].clone()
        tensors[name].view(-1)[0] = value
        return tensors
    return mutate


def reshape_first(tensors):
    tensors[sorted(tensors)[0]] = torch.zeros(1)
    return tensors


def drop_first(tensors):
    tensors.pop(sorted(tensors)[0])
    return tensors


WEIGHT_CASES = [  # (case, mutation of the tensors, expected words)
    ("nan", poison(float("nan")), "holds NaN or infinite values"),
    ("inf", poison(float("-inf")), "holds NaN or infinite values"),
    ("overflowing", lambda ts: {k: torch.full_like(v, 3e38) for k, v in ts.items()},
     "outputs are not finite"),
    ("wrong shape", reshape_first, "has shape (1,)"),
    ("missing tensor", drop_first, "is missing"),
    ("extra tensor", lambda ts: dict(ts, evil=torch.zeros(2)), "unexpected tensor evil"),
]


@pytest.mark.parametrize("which", ["text", "game"])
@pytest.mark.parametrize("case, mutate, expect", WEIGHT_CASES, ids=[c[0] for c in WEIGHT_CASES])
def test_hostile_weights_are_refused_in_one_line(fresh, which, case, mutate, expect):
    path = fresh(which)
    edit_weights(path, mutate)
    message = refused(which, path, expect)
    if case in ("nan", "inf"):
        assert "tensor " in message  # names the tensor


def truncate(path, reseal_it):
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[:len(data) // 2])
    if reseal_it:
        reseal(path, json.loads((path / MANIFEST).read_text()))


FILE_CASES = [  # (case, damage, expected words)
    ("truncated", lambda p: truncate(p, False), "checksum mismatch"),
    ("truncated resealed", lambda p: truncate(p, True), "unreadable"),
    ("garbage resealed", lambda p: ((p / "model.safetensors").write_bytes(b"\xff" * 64),
                                    reseal(p, json.loads((p / MANIFEST).read_text()))),
     "unreadable"),
    ("pickle", lambda p: torch.save({"x": torch.zeros(1)}, p / "model.pt"), "pickles are refused"),
    ("listed pickle", lambda p: (torch.save({}, p / "model.pt"), reseal(p, dict(
        json.loads((p / MANIFEST).read_text()), files={"model.pt": "", "model.safetensors":
                                                       ""}))), "not a safetensors file"),
    ("path escape", lambda p: reseal(p, dict(json.loads((p / MANIFEST).read_text()), files={
        "model.safetensors": "", f"../{p.name}/model.safetensors": ""})),
     "not a safetensors file"),
    ("files list", lambda p: (p / MANIFEST).write_text(json.dumps(dict(
        json.loads((p / MANIFEST).read_text()), files=["model.safetensors"]))),
     "unreadable manifest"),
    ("manifest array", lambda p: (p / MANIFEST).write_text("[]"), "not a JSON object"),
    ("manifest nested", lambda p: (p / MANIFEST).write_text("[" * 100_000), "unreadable"),
    ("no meta digest", lambda p: (p / MANIFEST).write_text(json.dumps({
        k: v for k, v in json.loads((p / MANIFEST).read_text()).items()
        if k != "meta_sha256"})), "meta checksum mismatch"),
]


@pytest.mark.parametrize("which", ["text", "game"])
@pytest.mark.parametrize("case, damage, expect", FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_damaged_files_are_refused_in_one_line(fresh, which, case, damage, expect):
    path = fresh(which)
    damage(path)
    refused(which, path, expect)


# -- format/1: still read, just as strictly ----------------------------------------------------

def as_format_1(path):
    manifest = json.loads((path / MANIFEST).read_text())
    manifest.pop("meta_sha256")
    manifest["format"] = "lmzero-checkpoint/1"
    (path / MANIFEST).write_text(json.dumps(manifest))


@pytest.mark.parametrize("which", ["text", "game"])
def test_format_1_loads_validates_and_upgrades(fresh, which):
    path = fresh(which)
    as_format_1(path)
    LOADERS[which](path)  # runs written before format/2 still load (and resume)
    assert checkpoint.upgrade(path) and not checkpoint.upgrade(path)
    assert json.loads((path / MANIFEST).read_text())["format"] == checkpoint.FORMAT
    LOADERS[which](path)
    as_format_1(path)
    edit_meta(path, model_field("n_head", 0), sealed=False)  # no meta checksum to fail...
    refused(which, path, "n_head must be in")  # ...but the same validation


def test_shipped_manifests_are_format_2_and_their_meta_checks():
    from lmzero.models.load import SHIPPED
    for manifest in sorted(SHIPPED.glob(f"*/{MANIFEST}")):
        data = json.loads(manifest.read_text())
        assert data["format"] == checkpoint.FORMAT, manifest
        assert data["meta_sha256"] == checkpoint.meta_sha256(data["meta"]), manifest


# -- inference and property ------------------------------------------------------------------

def test_a_prompt_longer_than_the_block_is_a_dead_end_not_a_crash(fresh):
    """A state the model cannot read (a math calculator line can grow a long fraction
    mid-search) has no steps and value 0; the rest of the batch is answered as if alone."""
    path = fresh("text")
    edit_meta(path, model_field("block_size", 60))  # fits the first prompt and a step (57)...
    edit_weights(path, lambda ts: dict(ts, **{"pos.weight": ts["pos.weight"][:60]}))
    model = load_step_model(path, task=game24.TASK)
    short = "4 9 10 13 -> 24\n"
    long = short + "13 - 9 = 4 (left: 4 4 10)\n" * 2  # ...not a longer one (69 tokens)
    alone = model.value([short])[0].value
    mixed = model.value([long, short])
    assert mixed[0].value == 0.0 and mixed[1].value == pytest.approx(alone)
    expanded = model.expand([long, short], 2)
    assert expanded[0].steps == [] and expanded[0].value == 0.0 and expanded[1].value is not None


def test_a_task_reference_in_the_meta_is_never_imported(fresh, tmp_path):
    """Without a task from the caller, the meta's task only looks up a registered task's step
    length: a FILE.py:NAME there would run that file."""
    path = fresh("text")
    plugin = tmp_path / "evil.py"
    plugin.write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\nTASK = None\n")
    edit_meta(path, with_(task=f"{plugin}:TASK"))
    assert load_step_model(path).max_step_chars == 64
    assert not (tmp_path / "ran").exists()


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
FIELDS = st.sampled_from(["vocab_size", "block_size", "n_layer", "n_head", "n_embd", "trunk",
                          "mlp_width", "dropout", "rope", "other"])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(top=st.one_of(st.none(), st.tuples(st.sampled_from(["meta", "model", "vocab", "task",
                                                          "kind"]), JSON)),
       fields=st.dictionaries(FIELDS, JSON | st.integers(-2, 300), max_size=3))
def test_random_meta_loads_or_is_refused_in_one_line(pristine, tmp_path_factory, top, fields):
    path = shutil.copytree(pristine["text"], tmp_path_factory.mktemp("h") / "c")

    def mutate(meta):
        meta["model"].update(fields)
        if top is not None and top[0] == "meta":
            return top[1]
        if top is not None:
            meta[top[0]] = top[1]
        return meta
    edit_meta(path, mutate)
    try:
        model = load_step_model(path, task=game24.TASK)
    except CheckpointError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
    else:
        assert model.expand(["4 9 10 13 -> 24\n"], 2)[0].value is not None


# -- the commands -------------------------------------------------------------------------------

def lmzero(*args):
    return subprocess.run([sys.executable, "-m", "lmzero.cli", *args], capture_output=True,
                          text=True, timeout=300)


def assert_one_line_refusal(run, path):
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert run.stdout == ""  # nothing that looks like a result
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lmzero: error: "), run.stderr
    assert "Traceback" not in run.stderr and str(path) in lines[0]


@pytest.mark.slow  # subprocesses
@pytest.mark.parametrize("fault", ["nan", "block_size 8", "relabelled", "countdown"])
def test_eval_game24_refuses_a_hostile_checkpoint(fresh, tmp_path, fault):
    path = fresh("text")
    if fault == "nan":
        edit_weights(path, poison(float("nan")))
    elif fault == "block_size 8":
        edit_meta(path, model_field("block_size", 8))
    else:  # a Countdown model: relabelled game24 by hand, or as it is
        path = untrained_checkpoint(tmp_path / "countdown", countdown.TASK, 192)
        if fault == "relabelled":
            edit_meta(path, with_(task="game24"), sealed=False)
    run = lmzero("eval", "game24", "--checkpoint", str(path), "--limit", "2")
    assert_one_line_refusal(run, path)


@pytest.mark.slow  # subprocesses
@pytest.mark.parametrize("fault", ["nan", "n_head 0", "text model"])
def test_analyse_connect4_json_refuses_a_hostile_checkpoint(fresh, tmp_path, fault):
    path = fresh("game")
    if fault == "nan":
        edit_weights(path, poison(float("nan")))
    elif fault == "n_head 0":
        edit_meta(path, model_field("n_head", 0))
    else:
        path = fresh("text")
    positions = tmp_path / "positions.txt"
    positions.write_text("4453\n\n")
    run = lmzero("analyse", "connect4", "--positions", str(positions), "--json",
                 "--checkpoint", str(path), "--simulations", "20")
    assert_one_line_refusal(run, path)
