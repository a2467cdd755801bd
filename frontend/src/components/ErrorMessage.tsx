import { ApiError, formatLoc } from "../api/client";

interface Props {
  error: unknown;
  testId?: string;
}

/** Shows what went wrong; a 422 lists each field the server rejected and why. */
export function ErrorMessage({ error, testId }: Props) {
  if (!error) return null;
  return (
    <div className="error" role="alert" data-testid={testId}>
      <ErrorBody error={error} />
    </div>
  );
}

function ErrorBody({ error }: { error: unknown }) {
  if (!(error instanceof ApiError)) {
    const text = error instanceof Error ? error.message : String(error);
    return <p>{error instanceof TypeError ? `Cannot reach the server: ${text}` : text}</p>;
  }
  const fields = error.fieldErrors;
  if (error.status === 422 && fields.length) {
    return (
      <>
        <p>The server rejected the input (422):</p>
        <ul className="field-errors">
          {fields.map((field, index) => (
            <li key={index}>
              <code>{formatLoc(field.loc)}</code>: {field.msg}
            </li>
          ))}
        </ul>
      </>
    );
  }
  if (error.status === 413) return <p>Too large (413): {error.message}</p>;
  return <p>{error.message} ({error.status})</p>;
}
