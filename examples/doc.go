// Package examples holds the smoke test that builds every example program
// under this directory and runs it as a user would. It imports nothing; the
// programs themselves (package main, one per folder) import runtime and
// broker only.
package examples
