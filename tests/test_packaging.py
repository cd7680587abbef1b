"""The packaged app's parts that can be checked without building it (packaging/build_app.sh
builds it and smoke-tests the result in CI): the spec's contents, the self-test from source,
the no-console start of divcolor_gui/frozen.py and the smoke test's screenshot check; and,
where a build is present, that it carries its X11 libraries."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from divcolor_gui.core.lab import mean_chroma_rgb8
from divcolor_gui.qt_platform import bundled_libraries
from divcolor_gui.self_test import MIN_CHROMA, generated_photo

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120
DIST = REPO / "dist" / "divcolor"
XCB_PLUGIN = "PySide6/Qt/plugins/platforms/libqxcb.so"


class _Recorder:
    """Stands in for PyInstaller's Analysis/PYZ/EXE/COLLECT: records what the spec asks for."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        # As PyInstaller holds them: (path in the bundle, source, kind).
        self.datas = [(f"{dest}/{Path(src).name}", src, "DATA") for src, dest in kwargs.get("datas", [])]
        # What the analysis found: a test's own list (`collected`) or none.
        self.binaries = list(kwargs.get("binaries", [])) + list(getattr(self, "collected", []))
        self.pure, self.scripts = [], []
        self.made.append(self)


def _run_spec(tmp_path, collected=()) -> dict:
    """The spec run as PyInstaller runs it, with recorders for its classes: its namespace,
    plus `made`, what each class was called with. `collected`: the binaries the analysis finds."""
    made: list[_Recorder] = []
    kinds = {k: type(k, (_Recorder,), {"made": made}) for k in ("Analysis", "PYZ", "EXE", "COLLECT")}
    kinds["Analysis"].collected = list(collected)
    ns = {**kinds, "SPECPATH": str(REPO), "workpath": str(tmp_path)}
    exec(compile((REPO / "divcolor.spec").read_text(), "divcolor.spec", "exec"), ns)
    ns["made"] = {k: [r for r in made if type(r).__name__ == k] for k in kinds}
    return ns


def test_spec_bundles_the_models_and_icon_and_leaves_out_the_unused(tmp_path):
    made = _run_spec(tmp_path)["made"]
    (analysis,) = made["Analysis"]
    assert Path(analysis.args[0][0]) == REPO / "packaging" / "entry.py"
    datas = {Path(src).relative_to(REPO).as_posix(): dest for src, dest in analysis.kwargs["datas"]}
    # Where core/resources.py looks for them in the bundle: sys._MEIPASS/resources/...
    assert datas["resources/models/general.pt"] == "resources/models"
    assert datas["resources/icons/divcolor.png"] == "resources/icons"
    for name in ("tkinter", "matplotlib", "scipy", "PySide6.QtNetwork", "PySide6.QtQml"):
        assert name in analysis.kwargs["excludes"]
    (collect,) = made["COLLECT"]
    assert collect.kwargs["name"] == "divcolor"  # one folder: dist/divcolor/
    exe = made["EXE"][0]
    assert exe.kwargs["name"] == "divcolor" and exe.kwargs["exclude_binaries"]  # onedir, not onefile


def test_spec_drops_torch_build_files_but_keeps_what_import_torch_needs(tmp_path):
    spec = _run_spec(tmp_path)
    keep, resolves = spec["keep"], spec["resolves"]
    for dropped in ("torch/include/ATen/core/Tensor.h", "torch/test/atest", "torch/bin/protoc",
                    "torch/share/cmake/Torch/TorchConfig.cmake", "torch/lib/libtorchbind_test.so",
                    "PySide6/Qt/translations/qtbase_de.qm", "PIL/_avif.cpython-311-x86_64-linux-gnu.so"):  # fmt: skip
        assert not keep((dropped, "/src", "DATA")), dropped
    # A top-level alias of a dropped library would dangle: it goes too.
    alias = ("libQt6Network.so.6", "PySide6/Qt/lib/libQt6Network.so.6", "SYMLINK")
    assert not resolves(alias, present=set())
    assert resolves(alias, present={"PySide6/Qt/lib/libQt6Network.so.6"})
    # torch checks for torch_shm_manager at import; libtorch_cpu is torch.
    for kept in ("torch/bin/torch_shm_manager", "torch/lib/libtorch_cpu.so", "resources/models/general.pt",
                 "PySide6/Qt/plugins/platforms/libqoffscreen.so", "PySide6/Qt/plugins/platforms/libqxcb.so"):  # fmt: skip
        assert keep((kept, "/src", "DATA")), kept


def _binary(dest: str) -> tuple[str, str, str]:
    return (dest, f"/build-machine/{Path(dest).name}", "BINARY")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the xcb plugin is Linux's")
def test_spec_refuses_a_build_whose_xcb_plugin_lacks_its_libraries(tmp_path):
    """A build machine without libxcb-cursor0 (PyInstaller only warns): the build stops and
    names the package, instead of shipping an app whose window cannot open."""
    carried = [_binary(lib) for lib in bundled_libraries() if lib != "libxcb-cursor.so.0"]
    with pytest.raises(SystemExit) as exit_:
        _run_spec(tmp_path, collected=[_binary(XCB_PLUGIN), *carried])
    message = str(exit_.value.code)
    assert "libxcb-cursor.so.0" in message and "apt-get install libxcb-cursor0" in message
    # The same check, with everything collected: nothing missing.
    missing_xcb_libraries = _run_spec(tmp_path)["missing_xcb_libraries"]
    every = [_binary(XCB_PLUGIN), *[_binary(lib) for lib in bundled_libraries()]]
    assert missing_xcb_libraries(every) == []
    for lib in ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"):
        assert missing_xcb_libraries([e for e in every if e[0] != lib]) == [lib]
    assert missing_xcb_libraries([]) == []  # no xcb plugin in the bundle: nothing to carry


def _built_xcb_plugin() -> Path:
    """dist/divcolor's xcb plugin, or a skip saying why there is none to check."""
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        pytest.skip("needs Linux and ldd")
    found = sorted(DIST.glob(f"*/{XCB_PLUGIN}"))
    if not found:
        pytest.skip("no packaged app built (packaging/build_app.sh builds dist/divcolor)")
    return found[0]


def test_the_built_app_resolves_its_xcb_plugins_libraries_inside_its_folder():
    """With the search path the app's launcher sets (LD_LIBRARY_PATH: its own folder), every
    X11 library the plugin needs that a bare desktop may lack comes from the folder."""
    plugin = _built_xcb_plugin()
    internal = plugin.parents[4]  # .../_internal/PySide6/Qt/plugins/platforms/libqxcb.so
    env = dict(os.environ, LD_LIBRARY_PATH=str(internal))
    out = subprocess.run(["ldd", str(plugin)], env=env, capture_output=True, text=True).stdout
    resolved = dict(line.strip().split(" => ", 1) for line in out.splitlines() if " => " in line)
    for lib in bundled_libraries():
        assert resolved.get(lib, "not linked").startswith(f"{internal}/"), f"{lib} => {resolved.get(lib)}"


def _xcb_smoke():
    spec = importlib.util.spec_from_file_location("xcb_smoke", REPO / "packaging" / "xcb_smoke.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_x_server_screenshot_check_tells_a_window_from_a_blank_screen():
    smoke = _xcb_smoke()
    screen = Image.new("RGB", (1600, 1000))  # Xvfb's black root window (-br)
    assert smoke.problems(screen) == ["the screen is black: no window"]
    screen.paste((239, 239, 239), (0, 0, 1280, 820))  # a window with nothing drawn in it
    found = smoke.problems(screen)
    assert len(found) == 2 and "distinct colours" in found[0] and "colourful" in found[1]
    rng = np.random.default_rng(0)
    drawn = rng.integers(0, 256, (820, 1280, 3), dtype=np.uint8)  # many colours, colourful
    screen.paste(Image.fromarray(drawn), (0, 0))
    assert smoke.problems(screen) == []
    small = Image.new("RGB", (1600, 1000))
    small.paste(Image.fromarray(drawn[:200, :300]), (0, 0))  # a dialog, not the main window
    assert [p for p in smoke.problems(small) if "expected at least" in p]


def test_the_generated_photo_is_grey_and_the_grey_check_tells_colour_from_grey():
    rgb = generated_photo()
    assert rgb.shape == (240, 320, 3) and rgb.dtype == np.uint8
    assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    assert rgb.std() > 20  # structure, not a flat field
    assert mean_chroma_rgb8(rgb) < 0.5
    tinted = rgb.astype(int)
    tinted[..., 0] += 25  # a faint warm cast is colour
    assert mean_chroma_rgb8(np.clip(tinted, 0, 255).astype(np.uint8)) > MIN_CHROMA


def _divcolor(*args: str, home: Path, **kw) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(DIVCOLOR_HOME=str(home), OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=REPO, **kw
    )


def test_self_test_from_source_uses_the_bundled_model_and_writes_a_colour_result(tmp_path):
    # No QT_QPA_PLATFORM, no display: the self-test goes offscreen by itself.
    out = tmp_path / "result" / "self-test.png"
    r = _divcolor("-m", "divcolor_gui", "--self-test", str(out), home=tmp_path / "home")
    assert r.returncode == 0, r.stderr
    assert "divcolor self-test passed" in r.stdout and "(bundled" in r.stdout
    with Image.open(out) as im:
        assert im.size == (320, 240)
        assert mean_chroma_rgb8(np.asarray(im.convert("RGB"))) > MIN_CHROMA


def test_self_test_fails_in_one_line_when_it_cannot_write(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    r = _divcolor("-m", "divcolor_gui", "--self-test", str(blocker / "out.png"), home=tmp_path / "home")
    assert r.returncode == 1
    assert r.stderr.startswith("divcolor self-test failed:") and len(r.stderr.strip().splitlines()) == 1


def test_frozen_start_without_console_logs_to_the_user_log_dir(tmp_path):
    """A windowed app's sys.stdout/sys.stderr are None: prepare() gives them the log file,
    and uncaught exceptions land there too."""
    code = (
        "import sys; sys.stdout = sys.stderr = None\n"
        "from divcolor_gui.frozen import prepare\n"
        "path = prepare()\n"
        "print('said on stdout'); sys.stderr.write('said on stderr\\n')\n"
        "raise RuntimeError('the crash')\n"
    )
    r = _divcolor("-c", code, home=tmp_path / "home")
    assert r.returncode == 1 and r.stdout == ""
    log = (tmp_path / "home" / "logs" / "divcolor.log").read_text()
    assert "start:" in log and "said on stdout" in log and "said on stderr" in log
    assert "uncaught exception" in log and "RuntimeError: the crash" in log
