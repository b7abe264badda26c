"""Every encoding built in code arrives over C-STORE in its own transfer syntax and is stored."""

from __future__ import annotations

import pydicom
import pytest
from pynetdicom import AE

from sharing.listener import serve
from sharing.models import Instance
from tests.conftest import free_port

from .device_samples import SAMPLES, build_sample

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.filterwarnings("ignore::UserWarning")]


def test_every_encoding_is_stored_over_c_store_in_its_own_syntax(clinic, tmp_path):
    clinic.accept_unknown_devices = True
    clinic.save()
    port = free_port()
    server = serve(host="127.0.0.1", port=port, ae_title="PORTAL", block=False)
    datasets = [pydicom.dcmread(build_sample(sample, tmp_path / f"{sample.name}.dcm")) for sample in SAMPLES]
    ae = AE(ae_title="DEVICE_SCU")
    for sop_class, syntax in sorted({(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in datasets}):
        ae.add_requested_context(sop_class, syntax)
    try:
        assoc = ae.associate("127.0.0.1", port, ae_title="PORTAL")
        assert assoc.is_established
        try:
            for sample, ds in zip(SAMPLES, datasets):
                status = assoc.send_c_store(ds)
                assert status and status.Status == 0x0000, f"{sample.name}: refused over C-STORE"
        finally:
            assoc.release()
    finally:
        server.shutdown()
    stored = dict(Instance.objects.values_list("sop_instance_uid", "transfer_syntax_uid"))
    for sample, ds in zip(SAMPLES, datasets):
        assert stored.get(str(ds.SOPInstanceUID)) == str(sample.syntax), f"{sample.name} not stored as sent"
