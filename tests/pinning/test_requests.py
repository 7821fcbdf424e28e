"""What a pin is asked (pinning/requests.py): safe unless the caller says otherwise."""

from dataclasses import fields

from evalpin.pinning.requests import DataPinRequest, PinRequest


def test_a_request_is_safe_by_default_and_proves_its_origin():
    """No pickle weights, no remote code, no loading script, no moving ref, no unproven local commit."""
    model = PinRequest("org/name", "a" * 40, "name", None)
    data = DataPinRequest("org/data", "b" * 40, "data", None)
    assert (model.allow_pickle, model.trust_remote_code, model.resolve, model.unverified_origin) == (
        False,
        False,
        False,
        False,
    )
    assert (data.trust_loading_script, data.resolve, data.unverified_origin, data.include) == (
        False,
        False,
        False,
        (),
    )
    flags = {f.name for f in fields(PinRequest) if f.type == "bool"}
    assert flags == {
        "allow_pickle",
        "trust_remote_code",
        "resolve",
        "unverified_origin",
    }  # a new switch is reviewed here
