"""Nothing lost, nothing cryptic: bad output places, two runs on one model, a kill
between the two saves of an epoch, half-written saves, numeric options out of range,
portable model files, and error lines that name the whole path."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from divcolor_gui.cli import main
from divcolor_gui.core.checkpoint import load_model, read_model_dict
from trainer.output_lock import OutputLock, lock_path
from trainer.release import portable_meta
from trainer.run import TrainConfig, TrainingError, resume_path, run_training

BATCH = 8


def _cfg(folder, out, **kw) -> TrainConfig:
    base = dict(data=folder.root, out=out, preset="tiny", batch_size=BATCH, device="cpu",
                epochs={"features": 1, "vae": 2, "mdn": 1})  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def _run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's refusals
        rc = e.code
    return rc, capsys.readouterr().err


# ----------------------------------------------------------------------------- output places


@pytest.mark.parametrize("where", ["afile", "afile/sub"])
def test_colorize_into_a_file_is_one_line_before_any_work(where, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("x")
    loaded = []
    monkeypatch.setattr("divcolor_gui.core.colorizer.Colorizer.load", lambda *a: loaded.append(a))
    rc, err = _run(["colorize", "p.jpg", "-o", where], capsys)
    assert rc == 2 and loaded == []
    assert err.count("\n") == 1 and err.startswith(f"divcolor: error: {where}") and "Traceback" not in err


@pytest.mark.parametrize("where", ["afile/m.pt", "adir"])
def test_train_into_an_impossible_place_is_refused_before_the_photos_are_read(
    where, photo_folder, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    Path("afile").write_text("x")
    Path("adir").mkdir()
    monkeypatch.setattr("trainer.run.scan_folder", lambda *a, **k: pytest.fail("scanned"))
    rc, err = _run(["train", "--data", photo_folder.root, "--out", where, "--preset", "tiny"], capsys)
    assert rc == 2 and err.count("\n") == 1 and where in err and "Traceback" not in err


def test_colorize_makes_no_folder_when_every_photo_fails_and_names_each_whole(
    trained_model, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("DIVCOLOR_HOME", str(trained_model.home))
    for d in ("x", "y"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "a.jpg").write_bytes(b"not a photo")
    out = tmp_path / "out"
    rc, err = _run(
        ["colorize", tmp_path / "x/a.jpg", tmp_path / "y/a.jpg", "-o", out, "--model", trained_model.path],
        capsys,
    )
    assert rc == 1 and not out.exists()
    lines = err.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"divcolor: {tmp_path / 'x/a.jpg'}: ") and lines[1].startswith(
        f"divcolor: {tmp_path / 'y/a.jpg'}: "
    )
    assert "a.jpg: a.jpg" not in err


def test_an_os_error_at_the_command_line_is_one_line(
    trained_model, tmp_path, capsys, monkeypatch, photo_factory
):
    from PIL import Image

    monkeypatch.setenv("DIVCOLOR_HOME", str(trained_model.home))
    Image.fromarray(photo_factory(64, 64, seed=3)).save(tmp_path / "p.jpg")

    def full(self, *a, **k):
        raise OSError(28, "No space left on device", str(self))

    monkeypatch.setattr("divcolor_gui.core.sheet.Image.Image.save", full)  # the modes and the sheet
    rc, err = _run(
        ["colorize", tmp_path / "p.jpg", "-o", tmp_path / "o", "--model", trained_model.path], capsys
    )
    assert rc == 1 and "No space left on device" in err and "Traceback" not in err and err.count("\n") == 1


@pytest.fixture
def photo_and_outdir(trained_model, tmp_path, monkeypatch, photo_factory):
    """A photo p.png and an existing output folder o, beside the trained model's home."""
    from PIL import Image

    monkeypatch.setenv("DIVCOLOR_HOME", str(trained_model.home))
    Image.fromarray(photo_factory(40, 40, seed=1)).save(tmp_path / "p.png")
    (tmp_path / "o").mkdir()
    return tmp_path / "p.png", tmp_path / "o"


def test_colorize_keeps_an_existing_contact_sheet_and_hints_without_force(
    trained_model, tmp_path, capsys, photo_and_outdir
):
    _, out = photo_and_outdir
    for name in ("p_sheet.jpg", "p.hints.json"):
        (out / name).write_text("mine")
        rc, err = _run(["colorize", tmp_path / "p.png", "-k", 1, "-o", out, "--hint", "3,3,#ff0000",
                        "--model", trained_model.path], capsys)  # fmt: skip
        assert rc == 1 and f"{out / name} exists" in err and "--force" in err
        assert (out / name).read_text() == "mine" and not (out / "p_mode1.png").exists()
        (out / name).unlink()
    # README's `colorize old.jpg --hints old.hints.json` in the photo's folder: its sidecar is
    # the hints file given, read and written back as before.
    (out / "p.hints.json").write_text('{"hints": [{"x": 3, "y": 3, "color": "#ff0000"}]}')
    rc, err = _run(["colorize", tmp_path / "p.png", "-k", 1, "-o", out, "--hints", out / "p.hints.json",
                    "--model", trained_model.path], capsys)  # fmt: skip
    assert rc == 0, err


def test_colorize_never_overwrites_what_the_same_run_wrote_even_with_force(
    trained_model, tmp_path, capsys, monkeypatch, photo_factory
):
    """x/a.jpg and y/a.png would both write a_mode1.png: the second is refused, the first kept."""
    from PIL import Image

    monkeypatch.setenv("DIVCOLOR_HOME", str(trained_model.home))
    for d, name, seed in (("x", "a.jpg", 1), ("y", "a.png", 2)):
        (tmp_path / d).mkdir()
        Image.fromarray(photo_factory(40, 40, seed=seed)).save(tmp_path / d / name)
    out = tmp_path / "o"
    rc, err = _run(["colorize", tmp_path / "x/a.jpg", tmp_path / "y/a.png", "-k", 1, "-o", out, "--force",
                    "--model", trained_model.path], capsys)  # fmt: skip
    assert rc == 1 and err.count("\n") == 2
    assert f"{out / 'a_mode1.png'} was just written for {tmp_path / 'x/a.jpg'}" in err
    first = (out / "a_mode1.png").read_bytes()
    rc, _ = _run(["colorize", tmp_path / "x/a.jpg", "-k", 1, "-o", tmp_path / "o2",
                  "--model", trained_model.path], capsys)  # fmt: skip
    assert rc == 0 and (tmp_path / "o2" / "a_mode1.png").read_bytes() == first


def test_colorize_with_force_keeps_the_old_file_when_writing_fails(
    trained_model, tmp_path, capsys, monkeypatch, photo_and_outdir
):
    _, out = photo_and_outdir
    (out / "p_mode1.png").write_bytes(b"mine")

    def full(self, fp, *a, **k):  # half a file, then the disk is full
        Path(fp).write_bytes(b"\x89PNG half")
        raise OSError(28, "No space left on device", str(fp))

    monkeypatch.setattr("divcolor_gui.core.sheet.Image.Image.save", full)
    rc, err = _run(["colorize", tmp_path / "p.png", "-k", 1, "-o", out, "--force",
                    "--model", trained_model.path], capsys)  # fmt: skip
    assert rc == 1 and f"{out / 'p_mode1.png'}: No space left on device" in err
    assert (out / "p_mode1.png").read_bytes() == b"mine" and [p.name for p in out.iterdir()] == [
        "p_mode1.png"
    ]


def test_eval_hints_on_a_folder_without_photos_is_one_line(trained_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DIVCOLOR_HOME", str(trained_model.home))
    (tmp_path / "empty").mkdir()
    rc, err = _run(
        ["eval", "--data", tmp_path / "empty", "--hints", "1", "--model", trained_model.path], capsys
    )
    assert (
        rc == 2
        and err == f"divcolor: error: {tmp_path / 'empty'}: no usable colour photos in the validation split\n"
    )


def test_train_refuses_no_stages_a_file_for_a_folder_and_resuming_a_folder(
    photo_folder, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    Path("afile.jpg").write_text("x")
    Path("adir.pt").mkdir()
    for argv, says in (
        (["--data", photo_folder.root, "--out", "m.pt", "--stages", ","], "--stages ',': name at least one"),
        (["--data", "afile.jpg", "--out", "m.pt"], "afile.jpg: a file, not a folder"),
        (
            ["--data", photo_folder.root, "--out", "adir.pt", "--resume"],
            "adir.pt is a folder, not a model file",
        ),
    ):
        rc, err = _run(["train", *argv, "--preset", "tiny", "--device", "cpu"], capsys)
        assert rc == 2 and err.startswith(f"divcolor: error: {says}") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir.pt", "afile.jpg"]


# ----------------------------------------------------------------------------- numeric options


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["train", "--data", ".", "--out", "m.pt", "--batch-size", "0"], "from 1 to 65536"),
        (["train", "--data", ".", "--out", "m.pt", "--val-fraction", "1.5"], "between 0 and 1"),
        (["train", "--data", ".", "--out", "m.pt", "--val-fraction", "nan"], "between 0 and 1"),
        (["train", "--data", ".", "--out", "m.pt", "--epochs", "2,-1,3"], "from 0 to 100000"),
        (["train", "--data", ".", "--out", "m.pt", "--epochs", "2,3"], "one number of epochs or three"),
        (["train", "--data", ".", "--out", "m.pt", "--lr", "0"], "above 0 and at most 1"),
        (["train", "--data", ".", "--out", "m.pt", "--lr", "inf"], "above 0 and at most 1"),
        (["train", "--data", ".", "--out", "m.pt", "--max-images", "1"], "2 or more"),
        (["colorize", "p.jpg", "-k", "0"], "from 1 to 8"),
        (["eval", "--data", ".", "--samples", "x"], "not a whole number"),
    ],
)
def test_numeric_options_are_checked_at_parse_time(argv, says, capsys):
    rc, err = _run(argv, capsys)
    assert rc == 2 and says in err and "Traceback" not in err


def test_a_model_that_is_a_folder_says_so(tmp_path, capsys):
    rc, err = _run(["colorize", "p.jpg", "--model", tmp_path], capsys)
    assert rc == 2 and f"{tmp_path} is a folder, not a model file" in err


# ----------------------------------------------------------------------------- one run per model


def test_a_second_run_on_the_same_model_is_refused_naming_the_first(photo_folder, tmp_path):
    out = tmp_path / "m.pt"
    with OutputLock(out):
        with pytest.raises(
            TrainingError, match=rf"m\.pt is being trained by another run \(process {os.getpid()} on "
        ):
            next(run_training(_cfg(photo_folder, out)))
    assert not lock_path(out).exists()  # released and removed
    with OutputLock(out):  # and free again
        pass


def test_a_run_holds_the_lock_for_its_whole_life(trained_model, tmp_path, divcolor_home, monkeypatch):
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "m.pt"
    gen = run_training(_cfg(trained_model.folder, out))
    next(gen)  # the run has started: scanning
    with pytest.raises(TrainingError, match="being trained by another run"):
        OutputLock(out).acquire()
    gen.close()  # stopped (as by Cancel): the lock goes with it
    OutputLock(out).acquire()


# ----------------------------------------------------------------------------- crash consistency


def test_a_kill_between_the_two_saves_loses_nothing(
    trained_model, tmp_path, divcolor_home, monkeypatch, run_to_end
):
    """The resume file is written first and holds the model: killed before the model file
    is written, the next run puts that epoch's model back and goes on with its optimizer."""
    import trainer.run as run

    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "m.pt"
    shutil.copy(trained_model.path, out)
    real = run.atomic_save

    def killed_at_the_model(obj, path):
        if Path(path) == out:
            raise KeyboardInterrupt  # after the resume file of MDN epoch 2, before its model
        real(obj, path)

    monkeypatch.setattr(run, "atomic_save", killed_at_the_model)
    with pytest.raises(KeyboardInterrupt):
        run_to_end(
            run_training(
                _cfg(trained_model.folder, out, resume=True, epochs={"features": 1, "vae": 2, "mdn": 2})
            )
        )
    assert read_model_dict(out)["meta"]["progress"]["mdn"] == 1
    saved = torch.load(resume_path(out), weights_only=True)
    assert saved["model"]["meta"]["progress"]["mdn"] == 2 and saved["states"]["mdn"]["epochs_done"] == 2

    monkeypatch.setattr(run, "atomic_save", real)
    restored = []
    real_restore = run._restore_optimizer

    def spy(opt, state, done):
        restored.append(((state or {}).get("epochs_done"), done))
        real_restore(opt, state, done)

    monkeypatch.setattr(run, "_restore_optimizer", spy)
    records, _ = run_to_end(
        run_training(_cfg(trained_model.folder, out, resume=True, epochs={"features": 1, "vae": 2, "mdn": 3}))
    )
    trained = [(r.stage, r.epoch) for r in records if getattr(r, "kind", None) == "epoch"]
    assert trained == [("mdn", 3)]  # epoch 2 was kept, not trained again
    assert restored == [(2, 2)]  # and the optimizer went on from it
    assert load_model(out).meta["progress"]["mdn"] == 3


def test_an_mdn_left_stale_by_a_stopped_run_starts_over(
    trained_model, tmp_path, divcolor_home, monkeypatch, run_to_end
):
    """Stopped after the VAE moved but before the MDN restarted on it: the next run must not
    keep the MDN that predicts the old VAE's latents."""
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "m.pt"
    shutil.copy(trained_model.path, out)
    cfg = _cfg(trained_model.folder, out, resume=True, epochs={"features": 1, "vae": 3, "mdn": 1})
    gen = run_training(cfg)
    for rec in gen:
        if getattr(rec, "kind", None) == "epoch" and rec.stage == "vae":
            break
    gen.close()
    records, _ = run_to_end(run_training(cfg))
    assert [(r.stage, r.epoch) for r in records if getattr(r, "kind", None) == "epoch"] == [("mdn", 1)]


def test_half_written_saves_are_removed_and_models_are_readable_by_others(
    trained_model, tmp_path, divcolor_home, monkeypatch, run_to_end
):
    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "m.pt"
    stale = [tmp_path / ".m.pt.k2j3.tmp.pt", tmp_path / ".m.resume.pt.x9.tmp.pt"]
    other = tmp_path / ".other.pt.a1.tmp.pt"
    for p in [*stale, other]:
        p.write_bytes(b"half")
    old = os.umask(0o022)
    try:
        run_to_end(run_training(_cfg(trained_model.folder, out, stages=("vae",), epochs={"vae": 1})))
    finally:
        os.umask(old)
    assert not any(p.exists() for p in stale) and other.exists()
    assert out.stat().st_mode & 0o777 == 0o644


# ----------------------------------------------------------------------------- portable files


def test_model_files_name_their_photos_folder_not_its_path(trained_model):
    meta = load_model(trained_model.path).meta
    assert meta["trained_on"] == trained_model.folder.root.name


def test_release_cuts_every_path_to_its_name():
    meta = {
        "trained_on": "/home/someone/data/general", "host": "build-7",
        "features_from": {"model": "/home/someone/runs/general.pt", "trained_on": "/home/someone/data/general", "epochs": 6},
    }  # fmt: skip
    got = portable_meta(meta)
    assert got == {
        "trained_on": "general",
        "features_from": {"model": "general.pt", "trained_on": "general", "epochs": 6},
    }


def test_the_bundled_models_carry_no_paths_of_the_machine_they_were_made_on():
    models = Path(__file__).resolve().parents[2] / "resources" / "models"
    for pt in sorted(models.glob("*.pt")):
        meta = read_model_dict(pt)["meta"]
        assert "host" not in meta, pt.name
        texts = [str(meta.get("trained_on"))] + [
            str(v) for key in ("features_from", "vae_from") for v in (meta.get(key) or {}).values()
        ]
        assert not any(os.sep in t or "\\" in t for t in texts), (pt.name, texts)
        card = pt.with_suffix(".md").read_text()
        assert not any(root in card for root in ("/home/", "/root/", "/work/", "/tmp/", "C:\\")), pt.name


def test_the_trainer_tab_respects_the_lock_and_leaves_the_card_alone(
    trained_model, tmp_path, divcolor_home, monkeypatch
):
    """The tab trains through train_job: refused like a second `divcolor train`, and the
    model card stays the holder's."""
    from trainer.app_jobs import train_job

    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "m.pt"
    shutil.copy(trained_model.path, out)
    card = out.with_suffix(".md")
    card.write_text("the holder's card")
    with OutputLock(out):
        with pytest.raises(TrainingError, match="being trained by another run"):
            for _ in train_job(_cfg(trained_model.folder, out, resume=True)):
                pass
    assert card.read_text() == "the holder's card"


def test_colorize_renders_and_writes_one_mode_at_a_time(
    trained_model, tmp_path, capsys, monkeypatch, photo_factory
):
    """Memory grows with the photo, not with k: each mode is written before the next is
    rendered, and the contact sheet is made from small copies."""
    from PIL import Image

    from divcolor_gui.core.colorizer import Colorizer

    monkeypatch.setenv("DIVCOLOR_HOME", str(trained_model.home))
    Image.fromarray(photo_factory(90, 120, seed=5)).save(tmp_path / "p.png")
    events = []
    render, save = Colorizer.render, Image.Image.save
    monkeypatch.setattr(
        Colorizer, "render", lambda self, *a, **k: events.append("render") or render(self, *a, **k)
    )
    monkeypatch.setattr(
        Image.Image,
        "save",
        lambda self, fp, *a, **k: events.append(Path(fp).suffix) or save(self, fp, *a, **k),
    )
    rc, err = _run(
        ["colorize", tmp_path / "p.png", "-k", 3, "-o", tmp_path / "o", "--model", trained_model.path], capsys
    )
    assert rc == 0, err
    assert events == ["render", ".png"] * 3 + [".jpg"]
    assert Image.open(tmp_path / "o" / "p_mode3.png").size == (120, 90)


def test_an_old_resume_file_never_overwrites_another_model_put_in_its_place(
    trained_model, tmp_path, divcolor_home, monkeypatch, run_to_end
):
    """A resume file holds its own model; a different model copied to the same name (a
    backup, a bundled model to go on training) is not replaced by it."""
    from divcolor_gui.core.checkpoint import save_model

    monkeypatch.setenv("DIVCOLOR_HOME", str(divcolor_home))
    out = tmp_path / "m.pt"
    shutil.copy(trained_model.path, out)
    cfg = _cfg(trained_model.folder, out, resume=True, epochs={"features": 1, "vae": 2, "mdn": 2})
    run_to_end(run_training(cfg))  # leaves a resume file holding this model at MDN epoch 2
    other = load_model(trained_model.path)  # MDN epoch 1: behind the resume file
    other.meta["created"] = "2020-01-01T00:00:00"  # another model
    save_model(other, out)
    cfg.epochs = {"features": 1, "vae": 2, "mdn": 1}  # nothing left to train
    run_to_end(run_training(cfg))
    assert read_model_dict(out)["meta"]["created"] == "2020-01-01T00:00:00"


def test_temporaries_of_a_name_with_brackets_are_its_own(tmp_path):
    from divcolor_gui.core.output_paths import temporaries

    mine, theirs = tmp_path / ".m[1].pt.a.tmp.pt", tmp_path / ".m1.pt.b.tmp.pt"
    mine.write_bytes(b""), theirs.write_bytes(b"")
    assert temporaries(tmp_path / "m[1].pt") == [mine]


def test_the_vae_linear_path_reaches_the_run_and_a_baseline_is_refused_it(photo_folder, tmp_path, capsys):
    rc, err = _run(
        [
            "train",
            "--data",
            photo_folder.root,
            "--out",
            tmp_path / "m.pt",
            "--method",
            "cvae",
            "--vae-linear-path",
        ],
        capsys,
    )
    assert rc != 0 and "--vae-linear-path is the plain VAE's: cvae" in err and "Traceback" not in err
    assert not (tmp_path / "m.pt").exists()


def test_a_damaged_resume_file_is_said_when_resuming(trained_model, tmp_path):
    """A resume file cut short (a full disk, a copy that did not finish) cannot give back the
    optimizers: the run goes on without them, and says so instead of saying nothing."""
    from trainer.policy import plan_run

    out = tmp_path / "m.pt"
    shutil.copy(trained_model.path, out)
    cfg = TrainConfig(data=trained_model.folder.root, out=out, resume=True)
    resume_path(out).write_bytes(b"cut short")
    assert (
        "optimizer states: m.resume.pt cannot be read (damaged?), so the optimizers start afresh"
        in plan_run(cfg)[1]
    )
    resume_path(out).unlink()  # none at all: a finished run's usual state, nothing to say
    assert not any("optimizer states" in line for line in plan_run(cfg)[1])
