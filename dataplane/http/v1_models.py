"""GET /v1/models: the concrete models the key's workspace serves and its policy allows.

Admission (core/admission.py) decides the list; glob entries (`gpt-4o*`) route
requests but are not listed: there is no finite list to show.
"""

from __future__ import annotations

import time

import orjson
from aiohttp import web

from dataplane.core.admission import Admitted
from dataplane.core.record import RequestRecord
from dataplane.core.trace import REQUEST_ID_HEADER


async def list_models(
    request: web.Request, rec: RequestRecord, admitted: Admitted
) -> web.StreamResponse:
    data = [
        {
            "id": target.model,
            "object": "model",
            "created": 0,
            "owned_by": target.provider.name.rsplit("/", 1)[1],
        }
        for target in admitted.targets
    ]
    body = orjson.dumps({"object": "list", "data": data})
    rec.first_byte = time.perf_counter()
    headers = {**admitted.headers, REQUEST_ID_HEADER: rec.request_id}
    return web.Response(body=body, content_type="application/json", headers=headers)
