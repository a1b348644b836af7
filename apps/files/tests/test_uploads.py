"""The pieces under the upload: the size-limiting handler, names, content sniffing, the upload's clean-up."""

from __future__ import annotations

import io

import pytest

from apps.files import services
from apps.files.content_types import content_type_detect
from apps.files.exceptions import FileTooLarge
from apps.files.names import display_name, safe_name
from apps.files.tests.support import ELF, GIF, JPEG, PDF, PNG, WEBP, WINDOWS_EXE
from apps.files.uploads import ENVELOPE_BYTES, LimitedUploadHandler


def test_the_handler_stops_at_the_first_byte_over_the_limit_and_drops_what_it_held():
    handler = LimitedUploadHandler(limit=10)
    handler.handle_raw_input(None, {}, 10 + ENVELOPE_BYTES, b"b")
    handler.new_file("file", "a.txt", "text/plain", 0)
    assert handler.receive_data_chunk(b"12345678", 0) is None
    spool = handler.spool
    assert spool is not None
    assert spool.tell() == 8
    with pytest.raises(FileTooLarge):
        handler.receive_data_chunk(b"901", 8)
    assert spool.closed  # the 8 bytes it held are dropped; the 3 over the limit were never written
    assert handler.spool is None


def test_the_handler_refuses_a_declared_length_over_the_limit_before_reading():
    handler = LimitedUploadHandler(limit=10)
    with pytest.raises(FileTooLarge):
        handler.handle_raw_input(None, {}, 11 + ENVELOPE_BYTES, b"b")
    assert handler.spool is None


def test_the_handler_keeps_name_size_and_hash():
    handler = LimitedUploadHandler(limit=100)
    handler.new_file("file", "../x.txt", "text/plain", 0)
    handler.receive_data_chunk(b"hello", 0)
    received = handler.file_complete(5)
    assert received is not None
    assert (received.given_name, received.size, received.read()) == ("../x.txt", 5, b"hello")
    assert received.sha256 == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "_.._etc_passwd"),
        ("..\\..\\windows\\system32", "_.._windows_system32"),
        ("a\x00b\x1bc\nd.txt", "abc d.txt"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("zero\u200bwidth\ufeff.png", "zerowidth.png"),
        ("Cafe\u0301.txt", "Café.txt"),  # NFC: one code point
        ("...", "file"),
        ("", "file"),
        ("  .hidden  ", "hidden"),
        ('a<b>c:d"e|f?g*.txt', "a_b_c_d_e_f_g_.txt"),
    ],
)
def test_safe_names(given, safe):
    assert safe_name(given) == safe
    long = safe_name("x" * 400 + ".pdf")
    assert len(long) == 150
    assert long.endswith(".pdf")


def test_display_names_keep_what_was_given_but_what_no_database_holds():
    assert display_name("../a\u202eb\x1b.txt") == "../a\u202eb\x1b.txt"
    assert display_name("a\x00b") == "a\ufffdb"
    assert len(display_name("y" * 1000)) == 255


@pytest.mark.parametrize(
    ("content", "name", "expected"),
    [
        (PNG, "x.bin", "image/png"),
        (JPEG, "x.png", "image/jpeg"),
        (GIF, "x", "image/gif"),
        (WEBP, "x", "image/webp"),
        (PDF, "x.txt", "application/pdf"),
        (WINDOWS_EXE, "x.png", "application/x-msdownload"),
        (ELF, "x.png", "application/x-executable"),
        (b"plain words\n", "x.png", "text/plain"),
        (b"a,b\n1,2\n", "x.csv", "text/csv"),
        (b"\xff\xfe\x00\x01", "x.txt", None),
        (b"", "empty.txt", "text/plain"),
    ],
)
def test_content_types_are_judged_by_the_bytes(content, name, expected):
    assert content_type_detect(io.BytesIO(content), name=name, declared="image/png") == expected


@pytest.mark.django_db
def test_a_failing_row_write_removes_the_object_already_stored(rbac_seeded, tenant, member, monkeypatch, media_root):
    from apps.common.tenancy import tenant_context
    from apps.files.uploads import ReceivedFile

    actor = member("owner")

    def broken_audit(**kwargs):
        raise RuntimeError("audit down")

    monkeypatch.setattr(services, "audit_record", broken_audit)
    upload = ReceivedFile(
        io.BytesIO(PNG), given_name="a.png", content_type="image/png", size=len(PNG), sha256="0" * 64, charset=None
    )
    with tenant_context(tenant), pytest.raises(RuntimeError, match="audit down"):
        services.file_upload(tenant=tenant, actor=actor, upload=upload)
    leftovers = [p for p in media_root.rglob("*") if p.is_file()]
    assert leftovers == []
