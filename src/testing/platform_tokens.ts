/**
 * Tokens minted by the platform's own backend (python-jose 3.3.0, the
 * library and version its `pyproject.toml` asks for), kept verbatim so that
 * tests check this service against what the platform really issues.
 *
 * They were made with Debian's `python3-jose` by calling `jwt.encode(payload,
 * PLATFORM_SECRET, algorithm="HS256")` with the payloads the platform builds
 * (`backend/app/services/auth.py`: `create_access_token`,
 * `create_refresh_token`), at {@linkcode PLATFORM_ISSUED_AT_MS}:
 *
 *     access:  {"sub": str(user_id), "tenant_id": str(tenant_id) if tenant_id else None,
 *               "role": role, "type": "access", "iat": now, "exp": now + 15 min}
 *     refresh: {"sub": str(user_id), "type": "refresh", "iat": now, "exp": now + 7 days}
 *
 * @module
 */

/** The secret the tokens are signed with (the platform's `JWT_SECRET_KEY`). */
export const PLATFORM_SECRET = "platform-secret-for-tests-only-0123456789-abcdefghijklmnopqrstuv";

/** When they were minted: 2026-03-12T10:00:00.654321Z (python-jose truncates to the second). */
export const PLATFORM_ISSUED_AT_MS = Date.UTC(2026, 2, 12, 10, 0, 0, 654);

/** The user of every token (`sub`). */
export const PLATFORM_USER = "5d7c3c6e-8d4f-4b43-9a51-1f0e2d3c4b5a";

/** The tenant of the tenant-scoped tokens. */
export const PLATFORM_TENANT = "aaaaaaaa-0000-4000-8000-000000000001";

/** One token per role (super_admin's `tenant_id` is `null`), and a refresh token. */
export const PLATFORM_TOKENS = {
  super_admin:
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI1ZDdjM2M2ZS04ZDRmLTRiNDMtOWE1MS0xZjBlMmQzYzRiNWEiLCJ0ZW5hbnRfaWQiOm51bGwsInJvbGUiOiJzdXBlcl9hZG1pbiIsInR5cGUiOiJhY2Nlc3MiLCJpYXQiOjE3NzMzMDk2MDAsImV4cCI6MTc3MzMxMDUwMH0.jVcEyjKTftZMKDl7xUNcXRAHRY9n26-dhniV6WLO410",
  tenant_admin:
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI1ZDdjM2M2ZS04ZDRmLTRiNDMtOWE1MS0xZjBlMmQzYzRiNWEiLCJ0ZW5hbnRfaWQiOiJhYWFhYWFhYS0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDEiLCJyb2xlIjoidGVuYW50X2FkbWluIiwidHlwZSI6ImFjY2VzcyIsImlhdCI6MTc3MzMwOTYwMCwiZXhwIjoxNzczMzEwNTAwfQ.zxhvkCL7xQNIGkUGxKVxzjAh8b0kMNeVWPYg8qOBYbk",
  operator:
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI1ZDdjM2M2ZS04ZDRmLTRiNDMtOWE1MS0xZjBlMmQzYzRiNWEiLCJ0ZW5hbnRfaWQiOiJhYWFhYWFhYS0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDEiLCJyb2xlIjoib3BlcmF0b3IiLCJ0eXBlIjoiYWNjZXNzIiwiaWF0IjoxNzczMzA5NjAwLCJleHAiOjE3NzMzMTA1MDB9.RzSvabD2tQJ5XQnLL0ddXqvllvG8ZdTHBpzzgN_Co-Y",
  viewer:
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI1ZDdjM2M2ZS04ZDRmLTRiNDMtOWE1MS0xZjBlMmQzYzRiNWEiLCJ0ZW5hbnRfaWQiOiJhYWFhYWFhYS0wMDAwLTQwMDAtODAwMC0wMDAwMDAwMDAwMDEiLCJyb2xlIjoidmlld2VyIiwidHlwZSI6ImFjY2VzcyIsImlhdCI6MTc3MzMwOTYwMCwiZXhwIjoxNzczMzEwNTAwfQ.WFv1VXQmIxIGzWGsgsGxTE8UzJ_JR6Gvcqw4Qy0vIAI",
  refresh:
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI1ZDdjM2M2ZS04ZDRmLTRiNDMtOWE1MS0xZjBlMmQzYzRiNWEiLCJ0eXBlIjoicmVmcmVzaCIsImlhdCI6MTc3MzMwOTYwMCwiZXhwIjoxNzczOTE0NDAwfQ.MfKm6RvPmkY6PFopij89HGnRAWdgnuYQNqZkpPU_spU",
} as const;
