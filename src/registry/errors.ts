/** A registry's answer that was not what was asked for: the HTTP status and Confluent's error_code if any. */
export class RegistryError extends Error {
  override name = "RegistryError";
  constructor(readonly status: number, readonly errorCode: number | undefined, message: string) {
    super(message);
  }
}
