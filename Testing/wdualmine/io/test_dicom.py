"""DICOM series folders as `fuse` inputs, on small series written with SimpleITK (and pydicom for the PET dose tags)."""

import numpy as np
import pytest
import SimpleITK as sitk

from wdualmine.cli import main
from wdualmine.errors import InputError
from wdualmine.io import dicom

SPACING = (2.0, 2.0, 3.0)


def write_series(folder, array, modality, uid, positions=None, spacing=SPACING, start=0):
    """One file per slice with position, orientation, spacing and modality, as a scanner would write them."""
    folder.mkdir(parents=True, exist_ok=True)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    writer.SetImageIO("GDCMImageIO")  # scanners write files without a .dcm suffix
    positions = positions if positions is not None else [k * spacing[2] for k in range(array.shape[0])]
    for k, z in enumerate(positions):
        image = sitk.GetImageFromArray(array[k])
        image.SetSpacing(spacing[:2])
        tags = {
            "0008|0060": modality,
            "0020|000d": "1.2.826.0.1.3680043.8.498.1",
            "0020|000e": uid,
            "0008|103e": f"{modality} test",
            "0020|0037": "1\\0\\0\\0\\1\\0",
            "0020|0032": f"-20\\-24\\{z}",
            "0020|0013": str(start + k + 1),
            "0028|0030": f"{spacing[1]}\\{spacing[0]}",
            "0018|0050": str(spacing[2]),
            "0008|0018": f"{uid}.{k + 1}",
        }
        for key, value in tags.items():
            image.SetMetaData(key, value)
        writer.SetFileName(str(folder / f"IM{start + k:04d}"))
        writer.Execute(image)
    return folder


@pytest.fixture
def volumes(phantom):
    return (
        phantom((10, 24, 20), seed=1, functional=True).astype(np.int16),
        phantom((10, 24, 20), seed=2).astype(np.int16),
    )


def fuse(capsys, *args):
    code = main(["fuse", *map(str, args), "--device", "cpu", "--working-size", "0"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(err):
    lines = [line for line in err.splitlines() if line.strip() and "task " not in line]
    assert len(lines) == 1 and ": error: " in lines[0], err
    return lines[0]


def test_ct_and_mr_series_fuse_with_their_geometry_and_the_task_from_the_modality(tmp_path, volumes, capsys):
    ct = write_series(tmp_path / "ct", volumes[0], "CT", "1.2.3.1")
    mri = write_series(tmp_path / "mr", volumes[1], "MR", "1.2.3.2")
    code, out, err = fuse(capsys, ct, mri, "-o", tmp_path / "out")
    assert code == 0, err
    assert "task ct, guessed" in err
    fused = sitk.ReadImage(str(tmp_path / "out" / "ct.nii.gz"))
    assert fused.GetSize() == (20, 24, 10) and np.allclose(fused.GetSpacing(), SPACING)
    assert np.allclose(fused.GetOrigin(), (-20, -24, 0))


def test_two_series_in_one_folder_are_listed_and_series_picks_one(tmp_path, volumes, capsys):
    both = write_series(tmp_path / "study", volumes[0], "CT", "1.2.3.10")
    write_series(both, volumes[1], "CT", "1.2.3.11", start=100)
    mri = write_series(tmp_path / "mr", volumes[1], "MR", "1.2.3.2")
    code, _, err = fuse(capsys, both, mri, "-o", tmp_path / "f.nii.gz")
    line = error_line(err)
    assert code == 2 and "holds 2 DICOM series: 1.2.3.10 (CT, 10 files" in line and "--series UID" in line
    code, _, err = fuse(capsys, both, mri, "-o", tmp_path / "f.nii.gz", "--series", "1.2.3.11")
    assert code == 0, err
    assert not (tmp_path / "study" / "f.nii.gz").exists()


@pytest.mark.parametrize(
    "positions, message",
    [
        ([0, 3, 6, 9, 12, 18, 21, 24, 27, 30], "has a gap: slices 3 mm apart but 6 mm at one place (about 1 slice(s) missing)"),
        ([0, 3, 6, 9, 12, 14, 17, 20, 23, 26], "uneven slice spacing"),
        ([0, 3, 6, 9, 9, 12, 15, 18, 21, 24], "two slices at one position"),
    ],
)
def test_bad_slice_positions_are_refused_before_fusion(tmp_path, volumes, capsys, positions, message):
    ct = write_series(tmp_path / "ct", volumes[0], "CT", "1.2.3.1", positions=positions)
    mri = write_series(tmp_path / "mr", volumes[1], "MR", "1.2.3.2")
    code, _, err = fuse(capsys, ct, mri, "-o", tmp_path / "out" / "f.nii.gz")
    assert code == 2 and message in error_line(err) and not (tmp_path / "out").exists()


def test_an_mr_series_as_a_is_refused(tmp_path, volumes, capsys):
    mri = write_series(tmp_path / "mr", volumes[1], "MR", "1.2.3.2")
    other = write_series(tmp_path / "mr2", volumes[0], "MR", "1.2.3.3")
    code, _, err = fuse(capsys, mri, other, "-o", tmp_path / "f.nii.gz")
    assert code == 2 and "is an MR series; give the CT, PET or SPECT as A" in error_line(err)


def test_a_folder_without_dicom_is_not_taken_for_a_series(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no images here")
    assert not dicom.is_dicom_folder(tmp_path / "notes")
    with pytest.raises(InputError, match="holds no DICOM image series"):
        dicom.choose_series(tmp_path / "notes")


def test_pet_is_converted_to_suv_when_the_tags_allow(tmp_path, volumes, capsys):
    pydicom = pytest.importorskip("pydicom")
    pet = write_series(tmp_path / "pet", volumes[0], "PT", "1.2.3.5")
    weight_kg, dose_bq, half_life_s, elapsed_s = 70.0, 3.7e8, 6586.2, 3600.0
    for file in sorted(pet.iterdir()):
        data = pydicom.dcmread(file)
        data.Units, data.DecayCorrection, data.PatientWeight = "BQML", "START", weight_kg
        data.SeriesTime = data.AcquisitionTime = "110000"
        drug = pydicom.Dataset()
        drug.RadionuclideTotalDose, drug.RadionuclideHalfLife, drug.RadiopharmaceuticalStartTime = dose_bq, half_life_s, "100000"
        data.RadiopharmaceuticalInformationSequence = pydicom.Sequence([drug])
        data.save_as(file)
    series = dicom.choose_series(pet)
    stored = sitk.GetArrayFromImage(dicom.read_series(series))
    expected = weight_kg * 1000 / (dose_bq * 2 ** (-elapsed_s / half_life_s))
    assert np.allclose(stored, volumes[0] * expected, rtol=1e-5)
    assert "PET converted to SUV (body weight)" in series.notes[0]

    # without the weight: stored units, and said so
    for file in sorted(pet.iterdir()):
        data = pydicom.dcmread(file)
        del data.PatientWeight
        data.save_as(file)
    mri = write_series(tmp_path / "mr", volumes[1], "MR", "1.2.3.2")
    code, _, err = fuse(capsys, pet, mri, "-o", tmp_path / "f.nii.gz")
    assert code == 0 and "task pet" in err and "PET kept in its stored units, not SUV: the patient's weight is not given" in err


def test_folders_of_image_files_stay_pair_folders(tmp_path, volumes):
    from wdualmine.io.inputs import looks_like_series

    (tmp_path / "pairs").mkdir()
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((2, 2, 2), np.float32)), str(tmp_path / "pairs" / "1.nii.gz"))
    assert not looks_like_series(tmp_path / "pairs")
    assert looks_like_series(write_series(tmp_path / "ct", volumes[0], "CT", "1.2.3.1"))
