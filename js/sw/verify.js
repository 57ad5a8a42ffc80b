// SHA-256 checks against the manifest (crypto.subtle: in service workers and in Node).

/** Hex SHA-256 of bytes. */
export async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  let hex = "";
  for (const b of digest) hex += b.toString(16).padStart(2, "0");
  return hex;
}

/** Whether bytes hash to the expected hex SHA-256 (a whole small file, or one chunk). */
export async function matchesSha256(bytes, expected) {
  return typeof expected === "string" && (await sha256Hex(bytes)) === expected.toLowerCase();
}
