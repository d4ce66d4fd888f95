/**
 * Keys and buckets the service accepts and refuses, shared by the validator's unit tests and the
 * migration test that holds the database's CHECK constraints to the same answers.
 */

/** Keys checkKey accepts (and the database must store). */
export const acceptedKeys = [
  "photos/2025/cat.jpg",
  "a",
  "a..b", // dots inside a segment are fine; only whole "." / ".." segments are refused
  ".hidden",
  "dir/.hidden",
  "...", // three dots is an ordinary name, not a path step
  "a_b-c.d",
  "k".repeat(1024),
];

/** Keys checkKey refuses (and the database must refuse). */
export const refusedKeys = [
  "a//b",
  "/a",
  "a/",
  "/",
  ".",
  "..",
  "a/./b",
  "a/../b",
  "../x",
  "a/..",
  "./a",
  "k".repeat(1025),
  "a\0b", // Postgres text cannot hold NUL at all: the migration test leaves it out
  "ａ", // fullwidth a (U+FF41): looks like "a", is not
  "cat.jpg\u200b", // zero-width space
  "é",
  "a b",
  "a\\b",
  "a\nb",
  "a\tb",
  "a?b",
  "a%2fb",
];

/** Buckets checkBucket accepts. */
export const acceptedBuckets = ["b", "my-bucket_01", "My_Bucket-1", "ABC", "a".repeat(63)];

/** Buckets checkBucket refuses. */
export const refusedBuckets = ["a".repeat(64), "my bucket", "a.b", "a/b", "ä", "é", "ａ", "a\0", "b\n"];
