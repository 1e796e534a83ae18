"""Provenance evidence: Content Credentials (C2PA) and what the file's metadata says about itself.

Every fixture is generated here: files signed by a throw-away CA (ES256), a copy changed after
signing, EXIF, Stable-Diffusion-style PNG text, an FFmpeg-written clip and a file with no metadata.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from seethrough.analysis import SCHEMA_PATH, AnalyzeOptions, analyze
from seethrough.facts import SCHEMA_VERSION
from seethrough.provenance import (TrustListError, display_rows, headline_statements, load_trust_list,
                                   read_provenance)
from seethrough.provenance import wording
from seethrough.testing import make_face_image, make_face_video
from seethrough.testing.provenance import (SD_PARAMETERS, make_exif_image, make_sd_png, make_test_signer,
                                           sign_with_c2pa, tamper_after_signing)

pytest.importorskip("c2pa")
pytest.importorskip("cryptography")

SCORES = AnalyzeOptions(explain=False, narrator=None, frames=8)


@pytest.fixture(scope="module")
def signer():
    return make_test_signer(organization="Example AI Lab", common_name="Example Generator Signer")


@pytest.fixture(scope="module")
def files(tmp_path_factory, signer):
    d = tmp_path_factory.mktemp("provenance")
    out = {"plain_jpg": make_face_image(d / "plain.jpg", size=(320, 240), scale=0.5)}
    out["signed_jpg"] = sign_with_c2pa(out["plain_jpg"], d / "signed.jpg", signer)
    out["tampered_jpg"] = tamper_after_signing(out["signed_jpg"], d / "tampered.jpg")
    out["exif_jpg"] = make_exif_image(d / "exif.jpg", size=(320, 240), scale=0.5)
    out["sd_png"] = make_sd_png(d / "sd.png", size=(320, 240), scale=0.5)
    out["ffmpeg_mp4"] = make_face_video(d / "ffmpeg.mp4", n_frames=8, size=(320, 240), scale=0.5)
    out["signed_mp4"] = sign_with_c2pa(out["ffmpeg_mp4"], d / "signed.mp4", signer)
    out["ca_pem"] = signer.write_ca(d / "trusted-roots.pem")
    out["other_ca_pem"] = make_test_signer(ca_name="Someone Else's Root").write_ca(d / "other-roots.pem")
    return out


def block(path, **kw) -> dict:
    return read_provenance(path, **kw).to_dict()


def codes(b: dict) -> list[str]:
    return [s["code"] for s in b["statements"]]


# ------------------------------------------------------------------ what each file holds


def test_signed_jpeg_declares_ai_generation_but_its_signer_is_not_trusted_by_default(files, signer):
    b = block(files["signed_jpg"])
    c = b["c2pa"]
    assert c["present"] and c["state"] == "valid" and c["validation_state"] == "Valid"
    assert c["hash_matches"] is True and c["failures"] == []
    assert c["signer"]["organization"] == "Example AI Lab"
    assert c["signer"]["common_name"] == "Example Generator Signer"
    assert "Throw-away Test Root CA" in c["signer"]["issuer"]
    assert c["claim_generator"] == "TestGen 1.0"
    assert [a["action"] for a in c["actions"]] == ["c2pa.created"]
    assert c["digital_source_types"] == ["http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"]
    assert b["declared_ai_generated"] is True and b["declared_by"] == "Example AI Lab"
    assert b["trust_list"] == {"supplied": False}
    head = headline_statements(b)
    assert head[0]["level"] == "declaration"
    assert head[0]["text"].startswith("Content Credentials signed by Example AI Lab say this image was made by a "
                                      "generative model")
    assert "not in a trust list" in head[0]["text"]
    assert not b["stripped"]


def test_a_supplied_trust_list_makes_the_signer_trusted_and_another_list_does_not(files):
    b = block(files["signed_jpg"], trust=files["ca_pem"])
    assert b["c2pa"]["state"] == "trusted" and b["declared_ai_generated"]
    assert b["trust_list"] == {"supplied": True, "file": "trusted-roots.pem", "certificates": 1}
    assert "is in the trust list supplied" in headline_statements(b)[0]["text"]
    other = block(files["signed_jpg"], trust=files["other_ca_pem"])
    assert other["c2pa"]["state"] == "valid" and other["declared_ai_generated"]
    assert "is not in the trust list supplied" in headline_statements(other)[0]["text"]


def test_pixels_changed_after_signing_break_the_hash_and_the_declaration(files):
    b = block(files["tampered_jpg"])
    c = b["c2pa"]
    assert c["present"] and c["state"] == "invalid" and c["hash_matches"] is False
    assert "assertion.dataHash.mismatch" in [f["code"] for f in c["failures"]]
    assert b["declared_ai_generated"] is False and b["declared_by"] is None
    head = headline_statements(b)
    assert [s["code"] for s in head] == ["c2pa_invalid"] and head[0]["level"] == "warning"
    assert "changed after signing" in head[0]["text"] and "Do not rely" in head[0]["text"]


def test_signed_mp4_declares_ai_generation(files):
    b = block(files["signed_mp4"])
    assert b["metadata"]["kind"] == "video"
    assert b["c2pa"]["state"] == "valid" and b["c2pa"]["hash_matches"] is True
    assert b["declared_ai_generated"] is True
    assert headline_statements(b)[0]["text"].startswith("Content Credentials signed by Example AI Lab say this "
                                                        "video was made by a generative model")


def test_exif_names_camera_and_software_and_gps_only_as_present(files):
    b = block(files["exif_jpg"])
    assert b["camera"] == "Canon EOS R5"
    assert b["edited_with"] == ["Adobe Photoshop 25.0 (Windows)"]
    assert b["metadata"]["exif"]["make"] == "Canon" and b["metadata"]["exif"]["datetime"] == "2024:05:01 10:00:00"
    assert b["gps_present"] is True and "gps" in codes(b)
    dumped = json.dumps(b)
    for coordinate in ("52.0", "31.0", "13.0", "24.0", "36.0"):  # the position written into the fixture
        assert coordinate not in dumped
    assert b["c2pa"]["state"] == "absent" and not b["declared_ai_generated"] and not b["stripped"]
    assert "no_c2pa" in codes(b)
    rows = dict(display_rows(b))
    assert rows[wording.LABELS["camera"]] == "Canon EOS R5"
    assert rows[wording.LABELS["gps"]] == "present (coordinates not shown)"


def test_stable_diffusion_parameters_are_an_unsigned_hint_not_a_declaration(files):
    b = block(files["sd_png"])
    assert b["metadata"]["text"]["parameters"] == SD_PARAMETERS
    assert b["ai_hints"] == ["PNG chunk 'parameters'"]
    assert b["declared_ai_generated"] is False
    hint = next(s for s in b["statements"] if s["code"] == "ai_metadata")
    assert hint["level"] == "hint" and "not proof" in hint["text"]
    assert headline_statements(b) == []  # a hint is not shown above the verdict


def test_ffmpeg_written_clip_is_said_to_be_re_encoded(files):
    b = block(files["ffmpeg_mp4"])
    encoder = b["metadata"]["container"]["encoder"]
    assert encoder.startswith("Lavf")
    assert b["edited_with"] == [f"FFmpeg ({encoder})"]
    assert "reencoded" in codes(b) and b["c2pa"]["state"] == "absent" and not b["stripped"]


def test_a_file_without_metadata_is_stripped_and_that_proves_nothing(files):
    b = block(files["plain_jpg"])
    assert b["stripped"] is True and b["camera"] is None and b["edited_with"] == [] and not b["gps_present"]
    assert codes(b) == ["stripped"]
    assert "proves nothing" in b["statements"][0]["text"]
    assert dict(display_rows(b))[wording.LABELS["stripped"]] == "none at all (stripped)"


# ------------------------------------------------------------------ trust lists and the network


def test_trust_list_errors_say_what_is_wrong(tmp_path):
    with pytest.raises(TrustListError, match="does not exist"):
        load_trust_list(tmp_path / "missing.pem")
    bad = tmp_path / "notes.txt"
    bad.write_text("not a certificate")
    with pytest.raises(TrustListError, match="holds no PEM certificates"):
        load_trust_list(bad)


def test_an_unusable_trust_list_is_a_warning_not_a_failure(files, tmp_path):
    bad = tmp_path / "empty.pem"
    bad.write_text("")
    b = block(files["signed_jpg"], trust=bad)
    assert b["c2pa"]["state"] == "valid" and b["declared_ai_generated"]
    warn = next(s for s in b["statements"] if s["code"] == "trust_list_unusable")
    assert warn["level"] == "warning" and "holds no PEM certificates" in warn["text"]


def test_a_remote_manifest_is_reported_and_never_fetched(files, signer, tmp_path, monkeypatch):
    import c2pa

    manifest = {"claim_generator_info": [{"name": "TestGen", "version": "1.0"}], "assertions": [
        {"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.created", "digitalSourceType":
                                                        "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"}]}}]}
    info = c2pa.C2paSignerInfo(alg=b"es256", sign_cert=signer.chain_pem, private_key=signer.key_pem, ta_url=None)
    out = tmp_path / "remote.jpg"
    with c2pa.Signer.from_info(info) as s, c2pa.Builder(json.dumps(manifest)) as builder:
        builder.set_no_embed()
        builder.set_remote_url("http://127.0.0.1:9/manifest.c2pa")
        builder.sign_file(str(files["plain_jpg"]), str(out), s)
    connects = []
    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: connects.append(addr) or real_connect(self, addr))
    b = block(out)
    assert b["c2pa"]["state"] == "remote" and b["c2pa"]["remote_url"] == "http://127.0.0.1:9/manifest.c2pa"
    assert [s["code"] for s in headline_statements(b)] == ["c2pa_remote"]
    assert not b["declared_ai_generated"] and connects == []


# ------------------------------------------------------------------ in analyze()


def test_provenance_never_changes_the_detector_score(files, tiny_predictor):
    for key in ("plain_jpg", "signed_jpg", "tampered_jpg", "exif_jpg", "sd_png", "ffmpeg_mp4", "signed_mp4"):
        with_it = analyze(files[key], predictor=tiny_predictor, options=SCORES)
        without = analyze(files[key], predictor=tiny_predictor, options=replace(SCORES, provenance=False))
        assert with_it.status == "ok", key
        assert with_it.provenance is not None and without.provenance is None
        assert with_it.fake_probability == without.fake_probability, key
        assert with_it.verdict == without.verdict, key
        assert "provenance" in with_it.timings_ms
    # Signing adds credentials, not pixels: the signed copy scores exactly as its source.
    signed = analyze(files["signed_jpg"], predictor=tiny_predictor, options=SCORES)
    plain = analyze(files["plain_jpg"], predictor=tiny_predictor, options=SCORES)
    assert signed.fake_probability == plain.fake_probability
    assert signed.provenance["declared_ai_generated"] and not plain.provenance["declared_ai_generated"]


def test_analysis_with_provenance_matches_the_schema(files, tiny_predictor):
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION == "1.4"
    for key in ("signed_jpg", "tampered_jpg", "exif_jpg", "sd_png", "signed_mp4"):
        doc = analyze(files[key], predictor=tiny_predictor).to_dict()
        jsonschema.validate(doc, schema)
        assert doc["schema_version"] == SCHEMA_VERSION


def test_trust_option_reaches_the_analysis(files, tiny_predictor):
    a = analyze(files["signed_jpg"], predictor=tiny_predictor,
                options=replace(SCORES, c2pa_trust=str(files["ca_pem"])))
    assert a.provenance["c2pa"]["state"] == "trusted"


def test_a_failing_provenance_reader_never_fails_the_analysis(files, tiny_predictor, monkeypatch):
    import seethrough.provenance as prov

    def boom(*a, **k):
        raise RuntimeError("exotic file")

    monkeypatch.setattr(prov, "read_provenance", boom)
    a = analyze(files["signed_jpg"], predictor=tiny_predictor, options=SCORES)
    assert a.status == "ok" and a.fake_probability is not None
    assert "could not be read (RuntimeError)" in a.provenance["note"]
    assert a.provenance["declared_ai_generated"] is False


def test_a_file_the_detector_cannot_decode_still_reports_its_provenance(files, tiny_predictor, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(files["signed_jpg"].read_bytes()[:-4000])  # image data cut short, manifest intact
    a = analyze(broken, predictor=tiny_predictor, options=SCORES)
    assert a.provenance is not None
    assert a.provenance["c2pa"]["present"] is True


# ------------------------------------------------------------------ the CLI


def test_cli_provenance_prints_only_provenance_without_loading_the_model(files):
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from seethrough.cli import app\n"
        f"r = CliRunner().invoke(app, ['provenance', {str(files['signed_jpg'])!r}, {str(files['plain_jpg'])!r}, '--json'])\n"
        "print(r.stdout)\n"
        "print('TORCH', 'torch' in sys.modules, 'EXIT', r.exit_code)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    body, tail = out.stdout.rsplit("TORCH", 1)
    assert tail.split() == ["False", "EXIT", "0"]
    docs = [json.loads(line) for line in body.strip().splitlines()]
    assert [d["file"]["name"] for d in docs] == ["signed.jpg", "plain.jpg"]
    assert docs[0]["provenance"]["declared_ai_generated"] is True
    assert docs[1]["provenance"]["stripped"] is True


def test_cli_provenance_text_and_errors(files, tmp_path):
    from typer.testing import CliRunner

    from seethrough.cli import app

    r = CliRunner().invoke(app, ["provenance", str(files["signed_jpg"]), str(files["exif_jpg"])])
    assert r.exit_code == 0, r.output
    assert "Content Credentials signed by Example AI Lab say this image was made by a generative model" in r.output
    assert "Canon EOS R5" in r.output
    r = CliRunner().invoke(app, ["provenance", str(tmp_path / "missing.jpg")])
    assert r.exit_code == 1 and "missing.jpg" in r.output and "does not exist" in r.output
    bad = tmp_path / "bad.pem"
    bad.write_text("nope")
    r = CliRunner().invoke(app, ["provenance", str(files["signed_jpg"]), "--c2pa-trust", str(bad)])
    assert r.exit_code == 2 and "holds no PEM certificates" in " ".join(re.sub(r"[│╭╮╰╯─]", " ", r.output).split())
    r = CliRunner().invoke(app, ["provenance", str(files["signed_jpg"]), "--c2pa-trust", str(files["ca_pem"]), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["provenance"]["c2pa"]["state"] == "trusted"


def test_web_server_setting_passes_the_trust_list_to_every_job(files, tmp_path):
    from seethrough.errors import ConfigError
    from seethrough.web.settings import WebSettings

    plain = WebSettings.from_env({}, data_dir=tmp_path)
    assert "c2pa_trust" not in plain.analysis_options()  # the dedup key of existing servers is unchanged
    s = WebSettings.from_env({"SEETHROUGH_C2PA_TRUST": str(files["ca_pem"])}, data_dir=tmp_path)
    assert s.analysis_options()["c2pa_trust"] == str(files["ca_pem"].resolve())
    assert s.settings_key("m") != plain.settings_key("m")
    assert AnalyzeOptions(**{k: v for k, v in s.analysis_options().items()}).c2pa_trust == str(files["ca_pem"].resolve())
    with pytest.raises(ConfigError, match="does not exist"):
        WebSettings.from_env({"SEETHROUGH_C2PA_TRUST": str(tmp_path / "nope.pem")}, data_dir=tmp_path)
