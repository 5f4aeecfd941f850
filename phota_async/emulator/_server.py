"""The aiohttp application: every route and the middleware pipeline."""

from __future__ import annotations

from aiohttp import web

from . import _api_images, _api_jobs, _api_profiles, _api_storage
from ._context import CONTEXT, Context
from ._fields import IMAGE_KINDS
from ._middleware import add_request_id, auth, errors, faults, intake
from ._recording import API_PREFIX

# Base64 photos make large bodies: up to 10 input images per edit.
MAX_BODY_BYTES = 128 * 1024 * 1024


def build_app(ctx: Context) -> web.Application:
    app = web.Application(
        middlewares=[intake, faults, errors, auth], client_max_size=MAX_BODY_BYTES
    )
    app[CONTEXT] = ctx
    app.on_response_prepare.append(add_request_id)
    _add_api_routes(app.router)
    _add_storage_routes(app.router)
    return app


def _add_api_routes(router: web.UrlDispatcher) -> None:
    for kind in IMAGE_KINDS:
        router.add_post(f"{API_PREFIX}/{kind}", _api_images.image_handler(kind))
    router.add_get(f"{API_PREFIX}/jobs/{{job_id}}", _api_jobs.get_job)
    router.add_get(f"{API_PREFIX}/webhook-secret", _api_jobs.webhook_secret)
    router.add_post(f"{API_PREFIX}/profiles/add", _api_profiles.add_profile)
    router.add_get(f"{API_PREFIX}/profiles/ids", _api_profiles.list_profiles)
    router.add_get(f"{API_PREFIX}/profiles/{{profile_id}}/status", _api_profiles.profile_status)
    router.add_get(
        f"{API_PREFIX}/profiles/{{profile_id}}/profile_picture", _api_profiles.profile_picture
    )
    router.add_delete(f"{API_PREFIX}/profiles/{{profile_id}}", _api_profiles.delete_profile)


def _add_storage_routes(router: web.UrlDispatcher) -> None:
    bucket, files = _api_storage.BUCKET_PREFIX, _api_storage.FILES_PREFIX
    router.add_put(f"{bucket}/{{name:.+}}", _api_storage.bucket_put)
    router.add_post(bucket, _api_storage.bucket_post)
    router.add_get(f"{bucket}/{{name:.+}}", _api_storage.bucket_get)
    router.add_get(f"{files}/{{name}}", _api_storage.file_get)
