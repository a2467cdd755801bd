import { Route, Routes } from "react-router-dom";
import { Layout } from "./components/Layout";
import { ComparePage } from "./pages/ComparePage";
import { DashboardPage } from "./pages/DashboardPage";
import { DatasetDetailPage } from "./pages/DatasetDetailPage";
import { DatasetsPage } from "./pages/DatasetsPage";
import { GeneratorsPage } from "./pages/GeneratorsPage";
import { LeaderboardPage } from "./pages/LeaderboardPage";
import { ModelDetailPage } from "./pages/ModelDetailPage";
import { ModelsPage } from "./pages/ModelsPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { RegressionPage } from "./pages/RegressionPage";
import { RunDetailPage } from "./pages/RunDetailPage";
import { RunsPage } from "./pages/RunsPage";
import { TraceDetailPage } from "./pages/TraceDetailPage";
import { TracesPage } from "./pages/TracesPage";
import { TuningJobPage } from "./pages/TuningJobPage";
import { TuningPage } from "./pages/TuningPage";

export function App() {
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<DashboardPage />} />
        <Route path="traces" element={<TracesPage />} />
        <Route path="traces/compare" element={<ComparePage />} />
        <Route path="traces/:id" element={<TraceDetailPage />} />
        <Route path="generators" element={<GeneratorsPage />} />
        <Route path="datasets" element={<DatasetsPage />} />
        <Route path="datasets/:key" element={<DatasetDetailPage />} />
        <Route path="runs" element={<RunsPage />} />
        <Route path="runs/:id" element={<RunDetailPage />} />
        <Route path="tuning" element={<TuningPage />} />
        <Route path="tuning/:jobId" element={<TuningJobPage />} />
        <Route path="models" element={<ModelsPage />} />
        <Route path="models/:name" element={<ModelDetailPage />} />
        <Route path="leaderboard" element={<LeaderboardPage />} />
        <Route path="regression" element={<RegressionPage />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}
