"""fidelity.py — how far int8 moves the decoder's next-token distributions, amanuensis and CTranslate2.

For one 30 s window (a log-mel from faster-whisper's feature extractor): CTranslate2 float32 decodes
it greedily; then, teacher-forced on that same token sequence, the logits of every position come from
CTranslate2 float32 and int8 (generate with the whole sequence as prompt and return_logits_vocab) and
from amanuensis f32 and int8 (build/tools/dump_decoder).  Per pair of systems and position: the KL
divergence KL(p_ref || p) in nats, whether the top-1 token differs, and |Δ log p| of the forced token.
Unlike a word error rate, these see every near-tie, not only the few that flip a word.

Used by tests/integration/test_int8.py and bench/decoder_error.py.
"""
import subprocess
import tempfile
from pathlib import Path

import numpy as np

SOT, NO_TIMESTAMPS, EOT = 50257, 50362, 50256  # English-only vocabulary
WINDOW = 480000                                # 30 s at 16 kHz

# (name, reference system, compared system)
PAIRS = (("CTranslate2 int8 vs f32", "ct2-float32", "ct2-int8"),
         ("amanuensis int8 vs f32", "am-f32", "am-int8"),
         ("amanuensis f32 vs CTranslate2 f32", "ct2-float32", "am-f32"))


def log_softmax(z):
    z = z.astype(np.float64)
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def windows(path, max_windows=0):
    """The 30 s windows of a recording (a last one shorter than 1 s is dropped), as log-mel [80][3000]."""
    from faster_whisper.audio import decode_audio, pad_or_trim
    from faster_whisper.feature_extractor import FeatureExtractor
    fe = FeatureExtractor(feature_size=80)
    audio = decode_audio(str(path), sampling_rate=16000)
    out = []
    for start in range(0, len(audio), WINDOW):
        chunk = audio[start:start + WINDOW]
        if len(chunk) < 16000 or (max_windows and len(out) >= max_windows):
            break
        out.append((start / 16000, pad_or_trim(fe(chunk)[:, :3000], 3000).astype(np.float32)))
    return out


class Fidelity:
    def __init__(self, model_dir, dump_decoder, threads=2, timestamps=False):
        import ctranslate2
        self.model_dir, self.dump, self.threads = str(model_dir), str(dump_decoder), threads
        self.prompt = [SOT] if timestamps else [SOT, NO_TIMESTAMPS]
        self.ct2 = {ct: ctranslate2.models.Whisper(self.model_dir, device="cpu", compute_type=ct,
                                                   intra_threads=threads) for ct in ("float32", "int8")}
        self.rows = {name: [] for name, _, _ in PAIRS}
        self.n_windows = 0

    def add(self, mel):
        """Score one window; returns its number of positions."""
        import ctranslate2
        sv = ctranslate2.StorageView.from_array(mel[None])
        ids = self.ct2["float32"].generate(sv, [self.prompt], beam_size=1)[0].sequences_ids[0]
        seq = self.prompt + ids + [EOT]
        n = len(ids) + 1                                  # positions predicting ids[0], ..., EOT
        z = {}
        for ct, model in self.ct2.items():
            r = model.generate(sv, [seq], beam_size=1, max_length=448, return_logits_vocab=True,
                               suppress_blank=False, suppress_tokens=[])
            z["ct2-" + ct] = np.stack([np.array(x) for x in r[0].logits[0][:n]])
        with tempfile.TemporaryDirectory() as tmp:
            mel_path, tok_path, out_path = Path(tmp) / "mel.f32", Path(tmp) / "tokens.txt", Path(tmp) / "logits.f32"
            mel.tofile(mel_path)
            tok_path.write_text(" ".join(map(str, seq)))
            for prec in ("f32", "int8"):
                subprocess.run([self.dump, self.model_dir, str(mel_path), str(tok_path), str(out_path),
                                str(self.threads), prec], check=True)
                logits = np.fromfile(out_path, dtype=np.float32).reshape(len(seq), -1)
                z["am-" + prec] = logits[len(self.prompt) - 1:len(self.prompt) - 1 + n]
        # CTranslate2 applies the timestamp rules to the logits it returns (the float lowest for a
        # forbidden token): every system is compared over the tokens both CTranslate2 models allow
        ok = (z["ct2-float32"] > -1e30) & (z["ct2-int8"] > -1e30)
        lp = {k: log_softmax(np.where(ok, v, -np.inf)) for k, v in z.items()}
        target = np.array(ids + [EOT])
        for name, ref, x in PAIRS:
            p, q = lp[ref], lp[x]
            with np.errstate(invalid="ignore"):
                kl = np.where(ok, np.exp(p) * (p - q), 0.0).sum(-1)
            top = p.argmax(-1) != q.argmax(-1)
            dlp = np.abs(p[np.arange(n), target] - q[np.arange(n), target])
            self.rows[name].append((kl, top, dlp))
        self.n_windows += 1
        return n

    def summary(self):
        """{pair name: {"positions", "kl" (mean), "top1" (share), "top1_n", "dlogp" (mean)}}"""
        out = {}
        for name, rows in self.rows.items():
            kl = np.concatenate([r[0] for r in rows])
            top = np.concatenate([r[1] for r in rows])
            dlp = np.concatenate([r[2] for r in rows])
            out[name] = {"positions": len(kl), "kl": float(kl.mean()), "top1": float(top.mean()),
                         "top1_n": int(top.sum()), "dlogp": float(dlp.mean())}
        return out
