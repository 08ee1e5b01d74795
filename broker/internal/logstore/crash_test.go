package logstore

const crashChildEnv = "LOGSTORE_CRASH_CHILD_DIR"
