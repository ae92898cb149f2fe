"""The web app in a real browser: the sample fused at start, overlay, live preview, Apply, Cancel, inputs refused
with the CLI's and the module's messages, an uploaded pair, a download. Times are measured (timings.json), never
asserted; every state is saved as a screenshot."""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import time

import numpy as np
import pytest

FUSION_TIMEOUT_S = 300


def wait_for(predicate, timeout: float, what: str, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def text(driver, element_id: str) -> str:
    elements = driver.find_elements("id", element_id)
    return elements[0].text if elements else ""


def count(driver, element_id: str) -> int:
    return int(text(driver, element_id).rsplit(" ", 1)[-1] or -1)


def red_view(driver):
    """The axial (Red) view: the first slice view image of the layout."""
    return driver.find_elements("css selector", "img.image-display-area")[0]


def red_source(driver) -> str:
    return driver.execute_script("const i = document.querySelector('img.image-display-area'); return i ? i.src : '';")


def red_pixels(driver) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(red_view(driver).screenshot_as_png)).convert("RGB"), dtype=np.int16)


def changed(before: np.ndarray, after: np.ndarray) -> float:
    """Mean absolute difference of two view images (0 when identical)."""
    return float(np.abs(before - after).mean()) if before.shape == after.shape else 255.0


def slider_thumb(driver, name: str):
    return driver.execute_script(
        f"return document.getElementById('wdm-control-{name}').closest('.v-input').querySelector('.v-slider-thumb');"
    )


def move_slider(driver, name: str, presses: int = 1, key: str = "ARROW_RIGHT") -> None:
    from selenium.webdriver.common.keys import Keys

    thumb = slider_thumb(driver, name)
    for _ in range(presses):
        thumb.send_keys(getattr(Keys, key))


def click(driver, element_id: str) -> None:
    element = wait_for(lambda: driver.find_elements("id", element_id), 30, f"#{element_id}")[0]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def type_into(driver, element_id: str, value: str) -> None:
    from selenium.webdriver.common.keys import Keys

    element = driver.find_element("id", element_id)
    element.send_keys(Keys.CONTROL, "a")  # clear() bypasses Vue's v-model; select and type over instead
    element.send_keys(Keys.DELETE)
    element.send_keys(value)


def settle(driver, seconds: float = 1.0) -> None:
    """Wait until the Red view has sent no new frame for ``seconds``."""
    last, since = red_source(driver), time.monotonic()
    while time.monotonic() - since < seconds:
        time.sleep(0.05)
        now = red_source(driver)
        if now != last:
            last, since = now, time.monotonic()


@pytest.fixture(scope="module")
def page(server, browser, shots, timings):
    browser.get(server.url)
    wait_for(lambda: count(browser, "wdm-fusion-count") >= 1, FUSION_TIMEOUT_S, "the sample's first fusion", 0.1)
    wait_for(lambda: red_source(browser), 30, "the Red view's first image")
    timings["start_to_first_fused_view_s"] = round(time.perf_counter() - server.started, 2)
    settle(browser)
    return browser


def test_page_opens_with_the_sample_fused(page, shots, timings):
    assert "WDualMine MRI T1" in text(page, "wdm-pair")
    assert text(page, "wdm-status") == "status: fused"
    pixels = red_pixels(page)
    assert pixels.std() > 10, "the Red view shows a flat image, not the fused volume"
    metrics = text(page, "wdm-metrics")
    assert "CC" in metrics and "SSIM" in metrics, metrics
    timings["first_apply_s_with_auto"] = float(text(page, "wdm-apply-seconds").split()[1])
    page.save_screenshot(str(shots / "web-sample-fused.png"))


def test_overlay_switch_changes_the_view(page, shots):
    before = red_pixels(page)
    click(page, "wdm-overlay-arbitration")
    wait_for(lambda: changed(before, red_pixels(page)) > 1, 30, "the arbitration overlay", 0.2)
    settle(page)
    # auto gave the sample a rule without the experts' residual: beside the map, the page says it shapes nothing
    assert "arbitration map shapes nothing" in text(page, "wdm-arbitration-note")
    page.save_screenshot(str(shots / "web-overlay-arbitration.png"))
    click(page, "wdm-overlay-none")
    wait_for(lambda: changed(before, red_pixels(page)) > 1, 30, "the view without overlay", 0.2)
    assert red_pixels(page).std() > 10
    click(page, "wdm-overlay-reliabilityA")
    wait_for(lambda: changed(before, red_pixels(page)) < 1, 30, "the reliability overlay back as before", 0.2)


def test_a_slider_move_updates_the_slice(page, shots, timings):
    click(page, "wdm-overlay-none")  # the fused slice alone: a change is the preview, not the overlay
    settle(page)
    durations, server_ms = [], []
    for _ in range(6):
        previews = count(page, "wdm-preview-count")
        before, source = red_pixels(page), red_source(page)
        started = time.perf_counter()
        move_slider(page, "detail_strength", 4)
        wait_for(lambda: red_source(page) != source, 60, "a new Red view image after the slider move")
        durations.append((time.perf_counter() - started) * 1000.0)
        wait_for(lambda: count(page, "wdm-preview-count") > previews, 60, "the preview count to grow")
        settle(page, 0.5)
        assert changed(before, red_pixels(page)) > 0.05, "the slider move did not change the Red view"
        server_ms.append(float(page.find_element("id", "wdm-preview-ms").text.split()[1]))
    timings["slider_to_image_ms"] = {"median": round(statistics.median(durations), 1), "all": [round(d, 1) for d in durations]}
    timings["preview_on_server_ms"] = {"median": round(statistics.median(server_ms), 1), "all": server_ms}
    page.save_screenshot(str(shots / "web-live-preview.png"))
    click(page, "wdm-overlay-reliabilityA")


def test_apply_with_other_controls_changes_the_fused_view(page, shots, timings):
    click(page, "wdm-overlay-none")
    settle(page)
    before = red_pixels(page)
    fusions = count(page, "wdm-fusion-count")
    move_slider(page, "reliability_bias", 20, "ARROW_LEFT")  # toward the MRI: a visibly different fused image
    move_slider(page, "emphasis", 20)
    started = time.perf_counter()
    click(page, "wdm-apply")
    wait_for(lambda: count(page, "wdm-fusion-count") > fusions, FUSION_TIMEOUT_S, "the Apply to finish", 0.1)
    timings["apply_click_to_fused_s"] = round(time.perf_counter() - started, 2)
    timings["apply_server_s"] = float(text(page, "wdm-apply-seconds").split()[1])
    settle(page)
    assert changed(before, red_pixels(page)) > 0.5
    assert "fused" in text(page, "wdm-status")
    page.save_screenshot(str(shots / "web-apply-other-controls.png"))
    click(page, "wdm-overlay-reliabilityA")


def test_cancel_stops_the_fusion_and_keeps_the_result(page, shots, timings):
    settle(page)
    before = red_pixels(page)
    fusions = count(page, "wdm-fusion-count")
    click(page, "wdm-auto")  # auto on: a longer run, so Cancel lands while it runs
    click(page, "wdm-apply")
    click(page, "wdm-cancel")
    started = time.perf_counter()
    wait_for(lambda: text(page, "wdm-status") == "status: cancelled", 60, "the cancelled status")
    timings["cancel_s"] = round(time.perf_counter() - started, 2)
    wait_for(lambda: page.find_elements("id", "wdm-apply"), 30, "Apply back")
    assert count(page, "wdm-fusion-count") == fusions
    assert "fusion cancelled; no output was written" in text(page, "wdm-log")
    settle(page)
    assert changed(before, red_pixels(page)) < 1
    page.save_screenshot(str(shots / "web-cancelled.png"))
    click(page, "wdm-auto")  # back off


def cli_message(*arguments) -> str:
    result = subprocess.run([sys.executable, "-m", "wdualmine", "fuse", *arguments], capture_output=True, text=True)
    assert result.returncode != 0
    return result.stderr


def refused(page, element_ids_and_values, button: str) -> str:
    volumes, pair, previous = text(page, "wdm-scene-volumes"), text(page, "wdm-pair"), text(page, "wdm-error")
    for element_id, value in element_ids_and_values:
        type_into(page, element_id, value)
    click(page, button)
    message = wait_for(lambda: (lambda m: m if m and m != previous else "")(text(page, "wdm-error")), 60, "a new error message")
    assert text(page, "wdm-scene-volumes") == volumes and text(page, "wdm-pair") == pair, "a refused input changed the scene"
    return message


def test_a_path_outside_the_data_folder_is_refused(page, data_folder, outside_file, shots):
    message = refused(page, [("wdm-reference-path", "mri.nrrd"), ("wdm-second-path", str(outside_file))], "wdm-open-paths")
    assert "outside the data folder" in message
    message = refused(page, [("wdm-second-path", "../" + outside_file.parent.name + "/secret.nrrd")], "wdm-open-paths")
    assert "outside the data folder" in message
    page.save_screenshot(str(shots / "web-refused-outside.png"))


def test_bad_files_give_the_cli_and_module_messages(page, data_folder, tmp_path, shots):
    # not an image: the engine's header check, word for word as `wdualmine fuse` prints it (after the path)
    message = refused(page, [("wdm-reference-path", "mri.nrrd"), ("wdm-second-path", "notes.nrrd")], "wdm-open-paths")
    cli = cli_message("--task", "pet", str(data_folder / "notes.nrrd"), str(data_folder / "mri.nrrd"), "-o", str(tmp_path / "f.nrrd"))
    expected = message.split("notes.nrrd", 1)[1].strip()
    assert expected.startswith(": cannot be read as an image") and expected in cli.replace("\n", " "), (message, cli)
    page.save_screenshot(str(shots / "web-refused-not-an-image.png"))
    # a 2-D image: the Slicer module's message (the CLI fuses 2-D pairs, so it has none for this case)
    message = refused(page, [("wdm-second-path", "slice2d.nrrd")], "wdm-open-paths")
    assert "is a single 2-D slice" in message
    # volumes that do not overlap: the engine's overlap check, as the CLI reports it
    message = refused(page, [("wdm-second-path", "pet_far.nrrd")], "wdm-open-paths")
    cli = cli_message("--no-auto", "--task", "pet", str(data_folder / "pet_far.nrrd"), str(data_folder / "mri.nrrd"),
                      "-o", str(tmp_path / "g.nrrd"))
    assert "do not overlap in physical space" in message and "do not overlap in physical space" in cli, (message, cli)
    page.save_screenshot(str(shots / "web-refused-no-overlap.png"))


def test_an_uploaded_pair_opens_and_fuses(page, data_folder, tmp_path, shots):
    import shutil

    for name in ("mri", "pet"):
        shutil.copy(data_folder / f"{name}.nrrd", tmp_path / f"uploaded_{name}.nrrd")
    page.find_element("css selector", "#wdm-upload-reference").send_keys(str(tmp_path / "uploaded_mri.nrrd"))
    page.find_element("css selector", "#wdm-upload-second").send_keys(str(tmp_path / "uploaded_pet.nrrd"))
    fusions = count(page, "wdm-fusion-count")
    wait_for(lambda: page.find_element("id", "wdm-open-uploads").is_enabled(), 60, "the upload to reach the page")
    click(page, "wdm-open-uploads")
    wait_for(lambda: "uploaded_mri (reference) + uploaded_pet" in text(page, "wdm-pair"), 60, "the uploaded pair")
    assert not text(page, "wdm-error")
    click(page, "wdm-apply")
    wait_for(lambda: count(page, "wdm-fusion-count") > fusions, FUSION_TIMEOUT_S, "the uploaded pair's fusion", 0.1)
    settle(page)
    assert red_pixels(page).std() > 10
    page.save_screenshot(str(shots / "web-uploaded-pair.png"))


def test_the_fused_volume_downloads_as_nrrd(page, data_folder, server, timings):
    import SimpleITK as sitk

    click(page, "wdm-download")
    path = wait_for(lambda: [p for p in page.downloads.glob("*.nrrd") if p.stat().st_size > 0], 60, "the download")[0]
    time.sleep(0.5)  # the browser renames the file when it is complete
    path = next(page.downloads.glob("*.nrrd"))
    fused, mri = sitk.ReadImage(str(path)), sitk.ReadImage(str(data_folder / "mri.nrrd"))
    assert fused.GetSize() == mri.GetSize()
    assert np.allclose(fused.GetSpacing(), mri.GetSpacing()) and np.allclose(fused.GetOrigin(), mri.GetOrigin(), atol=1e-3)
    timings["server_memory_mib"] = server.rss_mib()


def test_the_last_fusions_controls_download_as_the_command_lines_file(page, data_folder, server, timings):
    from wdualmine.controls_file import read_controls_file

    click(page, "wdm-download-controls")
    path = wait_for(lambda: [p for p in page.downloads.glob("*.controls.json") if p.stat().st_size > 0], 60, "the controls download")[0]
    time.sleep(0.5)  # the browser renames the file when it is complete
    saved = read_controls_file(next(page.downloads.glob("*.controls.json")))  # the engine's reader: the CLI's --controls
    assert saved.task == "pet" and saved.reference == "b"  # the PET fused onto the MRI's grid (the reference volume)
    assert all(len(saved.windows[key]) == 2 for key in ("a", "b"))  # the display windows the fusion read the volumes with
    assert saved.chosen_by == "given in the WDualMine web app"  # the last Apply ran with auto off (it unticks after the first)
    assert 0.0 <= saved.controls.detail_strength <= 2.0 and saved.controls.base in ("plain", "zscore")


def test_a_controls_file_loads_into_the_sliders(page, tmp_path, shots):
    from wdualmine.controls import FusionControls
    from wdualmine.controls_file import SavedControls, controls_text

    chosen = FusionControls(detail_strength=0.0, curve_strength=0.0, base_power=1.5, equalise=0.5, emphasis=0.25)
    path = tmp_path / "chosen.controls.json"
    path.write_text(controls_text(SavedControls(chosen, "pet", "a test's file", None, {"a": None, "b": None}, "b")))
    page.find_element("css selector", "#wdm-upload-controls").send_keys(str(path))
    wait_for(lambda: page.find_element("id", "wdm-load-controls").is_enabled(), 60, "the controls file to reach the page")
    click(page, "wdm-load-controls")

    def value(name):
        return float(slider_thumb(page, name).get_attribute("aria-valuenow"))

    wait_for(lambda: value("equalise") == 0.5, 30, "the sliders to take the file's values")
    assert (value("emphasis"), value("base_power"), value("detail_strength"), value("curve_strength")) == (0.25, 1.5, 0.0, 0.0)
    assert "controls loaded (a test's file); auto-tune is off" in text(page, "wdm-log")
    auto = page.find_element("id", "wdm-auto")
    assert auto.tag_name == "input" and not auto.is_selected() and not text(page, "wdm-error")
    page.save_screenshot(str(shots / "web-controls-loaded.png"))
    # a file that is not one: the engine's message, and the sliders as they were
    bad = tmp_path / "bad.controls.json"
    bad.write_text('{"format": "something else"}')
    page.find_element("css selector", "#wdm-upload-controls").send_keys(str(bad))
    time.sleep(1.0)  # the new file reaches the page
    click(page, "wdm-load-controls")
    wait_for(lambda: "is not a WDualMine controls file" in text(page, "wdm-error"), 30, "the bad file's message")
    # named as the user chose it, with the page's own way to write a good one (no server folder, no CLI option)
    assert text(page, "wdm-error").startswith("The controls file bad.controls.json is not") and "Download controls" in text(page, "wdm-error")
    assert value("equalise") == 0.5
