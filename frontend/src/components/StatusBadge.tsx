interface Props {
  status: string;
  testId?: string;
}

/** A run status as a coloured pill; `data-status` carries the raw value for tests. */
export function StatusBadge({ status, testId = "runs:status" }: Props) {
  return (
    <span className={`status-badge status-${status}`} data-testid={testId} data-status={status}>
      {status.replace("_", " ")}
    </span>
  );
}
