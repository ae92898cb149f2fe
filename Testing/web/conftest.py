"""The web app's browser tests: a real server (``python -m wdualmine_web``) on 127.0.0.1 and Debian's chromium
through chromedriver and Selenium. Skipped, with the reason, where one of them is missing."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
STARTUP_TIMEOUT_S = 300  # the first fusion on a slow shared CPU; the time itself is measured, not asserted


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    try:
        import slicer
        import trame_slicer  # noqa: F401

        if not hasattr(slicer, "vtkMRMLLayerDisplayableManager"):
            return "slicer-layer-dm is not installed (pip install -e '.[web]')"
    except ImportError as error:
        return f"the web extra is not installed ({error}; pip install -e '.[web]')"
    if browser_binary() is None:
        return "chromium is not installed (apt-get install chromium chromium-driver)"
    if shutil.which("chromedriver") is None:
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return None


def browser_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def web_requirements():
    reason = _missing()
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    """Screenshots of each state (WDUALMINE_WEB_SHOTS=folder to keep them) and the measured times (timings.json)."""
    folder = Path(os.environ.get("WDUALMINE_WEB_SHOTS") or tmp_path_factory.mktemp("web-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def timings(shots):
    measured: dict = {}
    yield measured
    (shots / "timings.json").write_text(json.dumps(measured, indent=2))
    print(f"\nweb timings ({shots / 'timings.json'}): {json.dumps(measured)}")


@pytest.fixture(scope="session")
def data_folder(tmp_path_factory, web_requirements) -> Path:
    """The server's data folder: the sample pair, a file that is no image, a 2-D image, a PET moved far away.

    WDUALMINE_WEB_DATA=folder puts it there instead of in pytest's temporary folder, so screenshots taken for the
    README (WDUALMINE_WEB_SHOTS) show a neutral path, not one of the machine that took them.
    """
    import numpy as np
    import SimpleITK as sitk

    sys.path.insert(0, str(REPO / "WDualMineFusion"))
    from wdualmine.sample_data import verify_sample

    given = os.environ.get("WDUALMINE_WEB_DATA")
    folder = Path(given) if given else tmp_path_factory.mktemp("web-data")
    folder.mkdir(parents=True, exist_ok=True)
    paths = verify_sample()
    shutil.copy(paths["MRI"], folder / "mri.nrrd")
    shutil.copy(paths["PET"], folder / "pet.nrrd")
    (folder / "notes.nrrd").write_text("this is a text file, not an image\n")
    flat = sitk.GetImageFromArray(np.random.default_rng(0).random((64, 64)).astype(np.float32))
    sitk.WriteImage(flat, str(folder / "slice2d.nrrd"))
    pet = sitk.ReadImage(str(paths["PET"]))
    pet.SetOrigin(tuple(value + 5000.0 for value in pet.GetOrigin()))
    sitk.WriteImage(pet, str(folder / "pet_far.nrrd"))
    return folder


@pytest.fixture(scope="session")
def outside_file(tmp_path_factory, data_folder) -> Path:
    path = tmp_path_factory.mktemp("outside") / "secret.nrrd"
    shutil.copy(data_folder / "pet.nrrd", path)
    return path


class Server:
    def __init__(self, proc, url, started):
        self.proc, self.url, self.started = proc, url, started

    def rss_mib(self) -> dict:
        """Resident and peak memory of the server process (the fusion runs in a child process, not counted)."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        values = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return {key: round(int(values[key].split()[0]) / 1024, 1) for key in ("VmRSS", "VmHWM")}


@pytest.fixture(scope="session")
def server(data_folder, tmp_path_factory):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(WEB), os.environ.get("PYTHONPATH", "")]))
    env.setdefault("OMP_NUM_THREADS", "1")
    log = (tmp_path_factory.mktemp("web-server") / "server.log").open("w")
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "wdualmine_web", "--port", str(port), "--data-folder", str(data_folder)],
                            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the web server exited with status {proc.returncode}; its log: {Path(log.name).read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the web server did not listen within 120 s")
            time.sleep(0.2)
    yield Server(proc, url, started)
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser(web_requirements, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("web-downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = browser_binary()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.downloads = downloads
    yield driver
    driver.quit()
