"""Regenerate the bundled WDualMine sample pair (MRI_T1.nrrd + PET_FDG.nrrd).

Usage, from the folder that holds the ``wdualmine`` package (WDualMineFusion)::

    python -m wdualmine.sample_data.generate            # rewrite the bundled files
    python -m wdualmine.sample_data.generate --check    # regenerate to a temporary
                                                        # folder and compare checksums
    python path/to/wdualmine/sample_data/generate.py    # same, run by path

Development-only dependencies: nilearn (it carries the MNI ICBM152 2009a
symmetric template in its wheel), SimpleITK, NumPy and SciPy.  Nothing else in
WDualMine imports this module.

What it does (all geometry in physical LPS millimetres, as ITK/NRRD use):

MRI  The nilearn copy of the skull-stripped ICBM152 2009a T1 (1 mm, uint8
     0..255) is low-pass filtered with a Gaussian of sigma =
     sqrt(2^2 - 1^2) / (2 sqrt(2 ln 2)) = 0.736 mm (the extra blur that takes a
     1 mm voxel to a 2 mm one), resampled linearly onto a 2 mm grid whose voxel
     centres are every other template voxel centre (same origin and direction),
     scaled by 1000/255 and stored as int16.

PET  Activity on the 1 mm template grid, in units of white-matter uptake:
     4 * p_GM + 1 * p_WM + 0.1 * (1 - p_GM - p_WM) inside the head, 0 outside,
     where p_GM/p_WM are the template's probability maps and the head is the
     template brain mask grown by HEAD_MARGIN_MM (low background, no scalp or
     skull model).  Grey and white matter inside the hypometabolic sphere take
     up HYPO_FACTOR of normal; the hot sphere is set to LESION_VS_GREY times the
     grey-matter value.  The map is scaled to Bq/ml (WM = WM_BQML), blurred with
     an isotropic Gaussian of PET_FWHM_MM, resampled linearly onto the PET grid,
     given Poisson-like Gaussian noise (variance = NOISE_GAIN_BQML * mean) from
     numpy.random.default_rng(SEED), clipped at 0, rounded and stored as uint16
     (1 count = 1 Bq/ml).

The output is deterministic for a given software stack (fixed seed, no
timestamps in the NRRD header).  Other versions of SimpleITK/NumPy may round a
few voxels differently, which changes the checksums; the shipped files are the
reference and their SHA-256 values are written into ``__init__.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

if __package__:
    from . import (
        HYPO_CENTER_LPS_MM,
        HYPO_RADIUS_MM,
        LESION_CENTER_LPS_MM,
        LESION_RADIUS_MM,
        PET_SCALE_BQML_PER_COUNT,
        PET_UNITS,
        SAMPLE_FILES,
        SAMPLE_SHA256,
    )
else:  # run by path: make ``wdualmine`` importable from the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from wdualmine.sample_data import (  # noqa: E402
        HYPO_CENTER_LPS_MM,
        HYPO_RADIUS_MM,
        LESION_CENTER_LPS_MM,
        LESION_RADIUS_MM,
        PET_SCALE_BQML_PER_COUNT,
        PET_UNITS,
        SAMPLE_FILES,
        SAMPLE_SHA256,
    )

HERE = Path(__file__).resolve().parent

SEED = 152

# MRI
MRI_SPACING_MM = 2.0
MRI_SCALE = 1000.0 / 255.0  # template uint8 0..255 -> 0..~1000

# PET grid: identity direction, 3 mm, its own origin and extent (covers the
# brain with >= 12 mm margin; voxel centres never coincide with the MRI's)
PET_SPACING_MM = 3.0
PET_SIZE = (64, 72, 62)
PET_ORIGIN_LPS_MM = (-93.5, -90.5, -85.0)

# PET activity model
GM_UPTAKE, WM_UPTAKE, CSF_UPTAKE = 4.0, 1.0, 0.1  # relative, grey:white:CSF/background
WM_BQML = 5000.0  # so grey matter is 20 kBq/ml (about SUV 7 for 200 MBq in 70 kg)
HEAD_MARGIN_MM = 8.0
LESION_VS_GREY = 2.5
HYPO_FACTOR = 0.4
PET_FWHM_MM = 7.0
NOISE_GAIN_BQML = 100.0  # noise SD = sqrt(100 * mean): 7 % in grey matter
PAD_MM = 16  # zero padding of the 1 mm activity map so the blur can spill out


def template_paths() -> dict:
    """The ICBM152 2009a files shipped inside the nilearn wheel."""
    import nilearn

    data = Path(nilearn.__file__).resolve().parent / "datasets" / "data"
    paths = {
        key: data / f"mni_icbm152_{key}_tal_nlin_sym_09a_converted.nii.gz"
        for key in ("t1", "gm", "wm")
    }
    missing = [str(p.name) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"nilearn {nilearn.__version__} lacks {missing}")
    return paths


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _physical_coords(img: sitk.Image):
    """x, y, z LPS coordinates (mm) of every voxel, as (z, y, x) numpy arrays."""
    size = img.GetSize()
    k, j, i = np.meshgrid(
        np.arange(size[2]), np.arange(size[1]), np.arange(size[0]), indexing="ij"
    )
    idx = np.stack([i, j, k]).reshape(3, -1).astype(np.float64)
    direction = np.array(img.GetDirection()).reshape(3, 3)
    spacing = np.array(img.GetSpacing())[:, None]
    origin = np.array(img.GetOrigin())[:, None]
    pts = origin + direction @ (spacing * idx)
    return [pts[a].reshape(size[::-1]) for a in range(3)]


def _sphere(coords, center, radius):
    x, y, z = coords
    return (x - center[0]) ** 2 + (y - center[1]) ** 2 + (z - center[2]) ** 2 <= radius**2


def make_mri(t1: sitk.Image) -> sitk.Image:
    src_spacing = t1.GetSpacing()[0]
    sigma = math.sqrt(MRI_SPACING_MM**2 - src_spacing**2) / (2 * math.sqrt(2 * math.log(2)))
    smooth = sitk.SmoothingRecursiveGaussian(sitk.Cast(t1, sitk.sitkFloat32), sigma)
    factor = MRI_SPACING_MM / src_spacing
    size = [int(math.ceil(n / factor)) for n in t1.GetSize()]
    ref = sitk.Image(size, sitk.sitkFloat32)
    ref.SetSpacing([MRI_SPACING_MM] * 3)
    ref.SetOrigin(t1.GetOrigin())
    ref.SetDirection(t1.GetDirection())
    low = sitk.Resample(smooth, ref, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    arr = np.clip(np.rint(sitk.GetArrayFromImage(low) * MRI_SCALE), 0, 32767).astype(np.int16)
    mri = sitk.GetImageFromArray(arr)
    mri.CopyInformation(ref)
    mri.SetMetaData("WDualMine_Modality", "MR")
    mri.SetMetaData(
        "WDualMine_Description",
        "MNI ICBM152 2009a symmetric T1 template (skull stripped), 2 mm, scaled 1000/255",
    )
    return mri


def pet_reference() -> sitk.Image:
    ref = sitk.Image(list(PET_SIZE), sitk.sitkFloat32)
    ref.SetSpacing([PET_SPACING_MM] * 3)
    ref.SetOrigin(PET_ORIGIN_LPS_MM)
    ref.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    return ref


def activity_map(t1: sitk.Image, gm: sitk.Image, wm: sitk.Image) -> sitk.Image:
    """Noise-free, unblurred FDG activity in Bq/ml on the 1 mm template grid."""
    p_gm = sitk.GetArrayFromImage(gm).astype(np.float64) / 255.0
    p_wm = sitk.GetArrayFromImage(wm).astype(np.float64) / 255.0
    brain = sitk.GetArrayFromImage(t1) > 0
    brain = ndimage.binary_fill_holes(ndimage.binary_closing(brain, iterations=2))
    spacing = t1.GetSpacing()[::-1]
    head = ndimage.distance_transform_edt(~brain, sampling=spacing) <= HEAD_MARGIN_MM
    p_rest = np.clip(1.0 - p_gm - p_wm, 0.0, 1.0) * head

    coords = _physical_coords(t1)
    tissue = GM_UPTAKE * p_gm + WM_UPTAKE * p_wm
    tissue = np.where(_sphere(coords, HYPO_CENTER_LPS_MM, HYPO_RADIUS_MM), HYPO_FACTOR * tissue, tissue)
    act = tissue + CSF_UPTAKE * p_rest
    act[_sphere(coords, LESION_CENTER_LPS_MM, LESION_RADIUS_MM)] = LESION_VS_GREY * GM_UPTAKE

    img = sitk.GetImageFromArray((act * WM_BQML).astype(np.float32))
    img.CopyInformation(t1)
    return sitk.ConstantPad(img, [PAD_MM] * 3, [PAD_MM] * 3, 0.0)


def make_pet(t1: sitk.Image, gm: sitk.Image, wm: sitk.Image) -> sitk.Image:
    act = activity_map(t1, gm, wm)
    sigma = PET_FWHM_MM / (2 * math.sqrt(2 * math.log(2)))
    blurred = sitk.SmoothingRecursiveGaussian(act, sigma)
    ref = pet_reference()
    mean = sitk.GetArrayFromImage(
        sitk.Resample(blurred, ref, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    ).astype(np.float64)
    mean = np.clip(mean, 0.0, None)
    rng = np.random.default_rng(SEED)
    noisy = mean + np.sqrt(NOISE_GAIN_BQML * mean) * rng.standard_normal(mean.shape)
    counts = np.clip(np.rint(noisy / PET_SCALE_BQML_PER_COUNT), 0, 65535).astype(np.uint16)
    pet = sitk.GetImageFromArray(counts)
    pet.CopyInformation(ref)
    pet.SetMetaData("WDualMine_Modality", "PT")
    pet.SetMetaData("WDualMine_Units", PET_UNITS)
    pet.SetMetaData("WDualMine_ScaleToUnits", repr(PET_SCALE_BQML_PER_COUNT))
    pet.SetMetaData(
        "WDualMine_Description",
        f"Simulated FDG PET on the ICBM152 2009a anatomy, {PET_FWHM_MM:g} mm FWHM, seed {SEED}",
    )
    return pet


def generate(outdir: Path) -> dict:
    """Write both volumes into ``outdir``; return {key: Path}."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    src = {key: sitk.ReadImage(str(p)) for key, p in template_paths().items()}
    images = {"MRI": make_mri(src["t1"]), "PET": make_pet(src["t1"], src["gm"], src["wm"])}
    out = {}
    for key, img in images.items():
        path = outdir / SAMPLE_FILES[key]
        sitk.WriteImage(img, str(path), True)
        out[key] = path
    return out


def update_init_checksums(checksums: dict, init_path: Path = HERE / "__init__.py") -> None:
    text = init_path.read_text(encoding="utf-8")
    for key, digest in checksums.items():
        text, n = re.subn(rf'("{key}":\s*")[0-9a-f]{{64}}(")', rf"\g<1>{digest}\g<2>", text)
        if n != 1:
            raise RuntimeError(f"could not find the SAMPLE_SHA256 entry for {key} in {init_path}")
    init_path.write_text(text, encoding="utf-8")


def describe(path: Path) -> str:
    img = sitk.ReadImage(str(path))
    arr = sitk.GetArrayViewFromImage(img)
    return (
        f"{path.name}: {path.stat().st_size} bytes, {img.GetPixelIDTypeAsString()}, "
        f"size {img.GetSize()}, spacing {img.GetSpacing()}, origin {img.GetOrigin()}, "
        f"direction {img.GetDirection()}, range {arr.min()}..{arr.max()}, "
        f"sha256 {_sha256(path)}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outdir", type=Path, default=HERE, help="output folder (default: the package)")
    parser.add_argument(
        "--check", action="store_true",
        help="regenerate into a temporary folder and compare with SAMPLE_SHA256",
    )
    args = parser.parse_args(argv)

    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            out = generate(Path(tmp))
            bad = {k: _sha256(p) for k, p in out.items() if _sha256(p) != SAMPLE_SHA256[k]}
        for key, digest in bad.items():
            print(f"{key}: regenerated {digest} != bundled {SAMPLE_SHA256[key]}")
        print("checksums match" if not bad else "checksums differ")
        return 1 if bad else 0

    out = generate(args.outdir)
    for path in out.values():
        print(describe(path))
    if args.outdir.resolve() == HERE:
        update_init_checksums({k: _sha256(p) for k, p in out.items()})
        print(f"updated SAMPLE_SHA256 in {HERE / '__init__.py'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
