"""Provenance fixtures for tests: files signed with Content Credentials by a throw-away CA, and files
with EXIF, generator text chunks or no metadata at all. Nothing is downloaded; the keys live only
in memory and in the folder the caller names.

Needs ``cryptography`` (a dependency of c2pa-python).
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path

AI_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
CAPTURE_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
SD_PARAMETERS = ("portrait photo of an astronaut, studio light\nNegative prompt: blurry\n"
                 "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x512, Model: sd_xl_base_1.0")


@dataclass(frozen=True)
class TestSigner:
    """A throw-away root CA and an ES256 leaf certificate signed by it."""

    __test__ = False  # not a pytest test class

    chain_pem: bytes  # leaf, then CA
    key_pem: bytes
    ca_pem: bytes
    organization: str
    common_name: str

    def write_ca(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(self.ca_pem)
        return path


def make_test_signer(organization: str = "Example AI Lab", common_name: str = "Example Generator Signer",
                     ca_name: str = "Throw-away Test Root CA") -> TestSigner:
    """A CA + leaf pair fit for C2PA signing (digitalSignature, emailProtection EKU, AKI/SKI)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name),
                            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "seethrough tests")])
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization)])

    def usage(sign: bool, ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(digital_signature=sign, content_commitment=False, key_encipherment=False,
                             data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                             encipher_only=False, decipher_only=False)

    def base(name, pub) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(name).issuer_name(ca_subject).public_key(pub)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False))

    ca = (base(ca_subject, ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(False, True), critical=True).sign(ca_key, hashes.SHA256()))
    leaf = (base(subject, key.public_key())
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(usage(True, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return TestSigner(
        chain_pem=leaf.public_bytes(pem) + ca.public_bytes(pem),
        key_pem=key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        ca_pem=ca.public_bytes(pem), organization=organization, common_name=common_name,
    )


def sign_with_c2pa(src: str | Path, dst: str | Path, signer: TestSigner, *, source_type: str = AI_SOURCE_TYPE,
                   generator: str = "TestGen", title: str | None = None) -> Path:
    """Copy ``src`` to ``dst`` with embedded Content Credentials: one ``c2pa.created`` action of ``source_type``."""
    import c2pa

    manifest = {
        "claim_generator_info": [{"name": generator, "version": "1.0"}],
        "title": title or Path(dst).name,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [
            {"action": "c2pa.created", "digitalSourceType": source_type, "softwareAgent": {"name": generator}}]}}],
    }
    info = c2pa.C2paSignerInfo(alg=b"es256", sign_cert=signer.chain_pem, private_key=signer.key_pem, ta_url=None)
    with c2pa.Signer.from_info(info) as s, c2pa.Builder(json.dumps(manifest)) as builder:
        builder.sign_file(str(src), str(dst), s)
    return Path(dst)


def tamper_after_signing(src: str | Path, dst: str | Path) -> Path:
    """A copy of a signed JPEG whose image data (not its manifest) was changed: the hash no longer matches."""
    data = bytearray(Path(src).read_bytes())
    end = data.rfind(b"\xff\xd9")  # end of image; the entropy-coded pixels sit just before it
    for off in (40, 80, 120):
        data[end - off] ^= 0x5A
    Path(dst).write_bytes(bytes(data))
    return Path(dst)


def make_exif_image(path: str | Path, *, make: str = "Canon", model: str = "Canon EOS R5",
                    software: str = "Adobe Photoshop 25.0 (Windows)", gps: bool = True, **image_kw) -> Path:
    """A face JPEG with EXIF make, model, software, date and (by default) a GPS position."""
    from PIL import Image

    from .media import make_face_image

    path = Path(path)
    make_face_image(path, **image_kw)
    with Image.open(path) as img:
        exif = img.getexif()
        exif[271], exif[272], exif[305], exif[306] = make, model, software, "2024:05:01 10:00:00"
        if gps:
            gps_ifd = exif.get_ifd(0x8825)
            gps_ifd.update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)})
        img.load()
        rgb = img.convert("RGB")
    rgb.save(path, exif=exif, quality=92)
    return path


def make_sd_png(path: str | Path, parameters: str = SD_PARAMETERS, **image_kw) -> Path:
    """A face PNG with the ``parameters`` text chunk Automatic1111-style Stable Diffusion UIs write."""
    from PIL import Image, PngImagePlugin

    from .media import make_face_image

    path = Path(path)
    make_face_image(path, **image_kw)
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", parameters)
    with Image.open(path) as img:
        img.load()
        img.save(path, pnginfo=info)
    return path


def example_block(kind: str = "image", state: str = "valid", *, ai: bool = True, signer: str = "Example AI Lab",
                  stripped: bool = False) -> dict:
    """A provenance block as ``analyze()`` writes it, built from typed parts without reading a file:
    valid/trusted/invalid Content Credentials of ``signer`` (declaring generative-model output when
    ``ai``), ``absent`` ones, or a file with no metadata at all (``stripped``)."""
    from ..provenance.credentials import Credentials
    from ..provenance.metadata import FileMetadata
    from ..provenance.summary import build

    md = FileMetadata(kind=kind)
    if not stripped and state == "absent":
        md.exif = {"software": "GIMP 2.10.36"}
    cred = Credentials()
    if state != "absent":
        failures = [{"code": "assertion.dataHash.mismatch", "explanation": "asset hash error"}] if state == "invalid" else []
        cred = Credentials(state=state, present=True, validation_state=state.capitalize(),
                           signer={"organization": signer, "common_name": f"{signer} signing key"},
                           claim_generator="TestGen 1.0",
                           actions=[{"action": "c2pa.created",
                                     "digital_source_type": AI_SOURCE_TYPE if ai else CAPTURE_SOURCE_TYPE}],
                           digital_source_types=[AI_SOURCE_TYPE if ai else CAPTURE_SOURCE_TYPE],
                           hash_matches=state != "invalid", failures=failures, manifests=1)
    trust = {"supplied": True, "file": "roots.pem", "certificates": 1} if state == "trusted" else None
    return build(md, cred, trust=trust).to_dict()
