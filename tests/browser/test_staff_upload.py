"""A staff member signs in, uploads an exam made from pydicom's ultrasound files, and sees it listed."""

import pytest

from sharing.models import Study

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_staff_logs_in_uploads_an_exam_and_sees_it_in_the_list(live_server, page, staff, exam):
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "pw-alice")
    page.click("button[type=submit]")
    page.wait_for_selector("#dropzone")
    assert "No studies yet" in page.inner_text("#study-list")

    page.set_input_files("#file-input", [str(p) for p in exam])
    page.wait_for_selector("#upload-status.ok", timeout=30_000)
    assert f"{len(exam)} files added" in page.inner_text("#upload-status")
    page.wait_for_selector("tr[data-study-id]", timeout=15_000)
    row = page.inner_text("tr[data-study-id]")
    assert "DOE, JANE" in row and "PID-4711" in row
    assert Study.objects.get().instance_count == len(exam)


def test_wrong_password_shows_an_error(live_server, page, staff):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert "didn't match" in page.inner_text("main")
