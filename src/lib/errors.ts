// Typed errors that carry the HTTP status they map to; app.onError turns them into JSON once.

export type ErrorDetails = Record<string, unknown>;

/** Base class: an error whose message a user can act on, with a status and optional details. */
export class AppError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 410 | 413 | 415 | 422 | 503,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class BadRequestError extends AppError {
  constructor(message: string, details?: ErrorDetails) {
    super(400, message, details);
  }
}
export class UnauthorizedError extends AppError {
  constructor(message = "unauthorized") {
    super(401, message);
  }
}
export class ForbiddenError extends AppError {
  constructor(message: string) {
    super(403, message);
  }
}
export class NotFoundError extends AppError {
  constructor(message: string, details?: ErrorDetails) {
    super(404, message, details);
  }
}
export class ConflictError extends AppError {
  constructor(message: string, details?: ErrorDetails) {
    super(409, message, details);
  }
}
/** What was there is gone for good (retention removed it); the thing it belonged to still exists. */
export class GoneError extends AppError {
  constructor(message: string, details?: ErrorDetails) {
    super(410, message, details);
  }
}
export class PayloadTooLargeError extends AppError {
  constructor(message: string, details?: ErrorDetails) {
    super(413, message, details);
  }
}
export class UnprocessableError extends AppError {
  constructor(message: string, details?: ErrorDetails) {
    super(422, message, details);
  }
}
export class UnavailableError extends AppError {
  constructor(message: string, details?: ErrorDetails) {
    super(503, message, details);
  }
}

/** The first line of what was thrown, trimmed: the part of a (possibly multi-line) message worth showing. */
export function errorLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0]!.trim();
}

/** Configuration that cannot be used; main prints `message` alone and exits 2. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** A failure worth retrying (e.g. git fetch): the job queue re-queues the job with backoff while attempts remain. */
export class TransientError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "TransientError";
  }
}
