interface Props {
  /** 0 to 1. */
  value: number;
  label: string;
  testId?: string;
  valueText?: string;
}

/** A progress bar screen readers and tests can read (`aria-valuenow` 0-100). */
export function ProgressBar({ value, label, testId, valueText }: Props) {
  const percent = Math.round(Math.min(1, Math.max(0, value)) * 100);
  return (
    <div
      className="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={percent}
      aria-valuetext={valueText}
      data-testid={testId}
    >
      <div className="progress-fill" style={{ width: `${percent}%` }} />
    </div>
  );
}
