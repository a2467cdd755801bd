import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "./client";

export type ModelSummary = Schemas["ModelSummary"];
export type ModelDetail = Schemas["ModelDetail"];
export type ModelVersion = Schemas["Version"];
export type ModelCreate = Schemas["ModelCreate"];

/** A promotion's answer: the version, and whether it is new (201) or the same weights were
 * registered already (200). */
export interface Promotion {
  version: ModelVersion;
  created: boolean;
}

const keys = {
  all: ["models"] as const,
  list: ["models", "list"] as const,
  detail: (name: string) => ["models", "detail", name] as const,
};

const modelPath = (name: string) => ({ params: { path: { name } } });

export function useModels() {
  return useQuery({
    queryKey: keys.list,
    queryFn: async () => (await unwrap(api.GET("/api/models"))).data,
  });
}

export function useModel(name: string) {
  return useQuery({
    queryKey: keys.detail(name),
    queryFn: () => unwrap(api.GET("/api/models/{name}", modelPath(name))),
    enabled: Boolean(name),
  });
}

export function useCreateModel() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: ModelCreate) => unwrap(api.POST("/api/models", { body })),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}

export function useDeleteModel() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (name: string) => unwrap(api.DELETE("/api/models/{name}", modelPath(name))),
    onSuccess: (_, name) => {
      client.removeQueries({ queryKey: keys.detail(name) });
      return client.invalidateQueries({ queryKey: keys.all });
    },
  });
}

/**
 * Register a run's final model as a version of `name`; with `createAs`, the model is created
 * first (`description` optional). A failed promotion after a successful create leaves the new
 * (empty) model in place: the form then offers it as an existing model.
 */
export function usePromoteRun() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (args: {
      name: string;
      runId: string;
      version?: string;
      create?: boolean;
    }): Promise<Promotion> => {
      if (args.create) {
        await unwrap(api.POST("/api/models", { body: { name: args.name } }));
      }
      const request = api.POST("/api/models/{name}/versions", {
        ...modelPath(args.name),
        body: { run_id: args.runId, version: args.version || null },
      });
      // The contract declares no body for the 200 (same weights again), but the server sends
      // the existing version either way.
      const { response } = await request;
      const version = (await unwrap(request)) as ModelVersion;
      return { version, created: response.status === 201 };
    },
    onSettled: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}

export function useSetAlias(name: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ alias, version }: { alias: string; version: string }) =>
      unwrap(api.PUT("/api/models/{name}/aliases/{alias}", {
        params: { path: { name, alias } },
        body: { version },
      })),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}

export function useDeleteAlias(name: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (alias: string) =>
      unwrap(api.DELETE("/api/models/{name}/aliases/{alias}", {
        params: { path: { name, alias } },
      })),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}

export function useDeleteVersion(name: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (version: string) =>
      unwrap(api.DELETE("/api/models/{name}/versions/{version}", {
        params: { path: { name, version } },
      })),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}

/** A download link (a .tar.gz, not JSON): the browser fetches it, so it is a plain URL. */
export function downloadUrl(name: string, ref: string): string {
  return `/api/models/${encodeURIComponent(name)}/versions/${encodeURIComponent(ref)}/download`;
}

/** The page of a registered model. */
export function modelPage(name: string): string {
  return `/models/${encodeURIComponent(name)}`;
}
